use super::*;

fn steps(options: &str) -> Vec<Step> {
    parse_options(options).unwrap().pipeline.steps
}

#[test]
fn sizes_fits_and_dpr() {
    let contain = |w, h, enlarge| vec![resize(Fit::Contain, w, h, enlarge)];
    assert_eq!(steps("width=400"), contain(Some(400), None, false));
    assert_eq!(
        steps("w=400,h=300,fit=contain"),
        contain(Some(400), Some(300), true)
    );
    assert_eq!(steps("w=200,dpr=2"), contain(Some(400), None, false));
    assert_eq!(
        steps("w=40,h=30,fit=cover"),
        vec![resize(Fit::CoverCrop, Some(40), Some(30), true)]
    );
    assert_eq!(
        steps("w=40,h=30,fit=cover,g=left"),
        vec![
            resize(Fit::Cover, Some(40), Some(30), true),
            Step::FocalCrop {
                width: 40,
                height: 30,
                focus: Focus {
                    x_milli: 0,
                    y_milli: 500
                }
            }
        ]
    );
    assert_eq!(
        steps("w=40,h=30,fit=crop,gravity=0.25x0.75")[1],
        Step::FocalCrop {
            width: 40,
            height: 30,
            focus: Focus {
                x_milli: 250,
                y_milli: 750
            }
        }
    );
    assert_eq!(
        steps("w=40,h=30,fit=pad,background=%23ff0000"),
        vec![resize(
            Fit::Pad {
                background: Rgb { r: 255, g: 0, b: 0 }
            },
            Some(40),
            Some(30),
            true
        )]
    );
    assert_eq!(
        steps("w=40,h=30,fit=squeeze"),
        vec![resize(Fit::Stretch, Some(40), Some(30), true)]
    );
}

#[test]
fn colours_in_every_spelling() {
    for (text, rgb) in [
        ("#f00", (255, 0, 0)),
        ("#00ff00", (0, 255, 0)),
        ("rgb(1,2,3)", (1, 2, 3)),
        ("rgba(1, 2, 3, 0.5)", (1, 2, 3)),
        ("blue", (0, 0, 255)),
    ] {
        assert_eq!(
            colour("background", text).unwrap(),
            Rgb {
                r: rgb.0,
                g: rgb.1,
                b: rgb.2
            },
            "{text}"
        );
    }
    assert!(colour("background", "#12").is_err());
    assert!(colour("background", "rgb(1,2)").is_err());
    // The comma inside rgb() does not split the option list.
    assert!(parse_options("w=10,h=10,fit=pad,background=rgb(0,0,255),q=50").is_ok());
}

#[test]
fn every_other_option_lands_in_the_ir() {
    let t = parse_options(
        "anim=false,trim=1;2;3;4,w=10,rotate=90,flip=hv,brightness=0.5,contrast=2,gamma=1.5,saturation=0,sharpen=1,blur=10,metadata=none,onerror=redirect,q=low,f=webp",
    )
    .unwrap();
    assert_eq!(t.on_error, OnError::Redirect);
    let s = &t.pipeline.steps;
    assert_eq!(s[0], Step::FirstFrame);
    assert_eq!(
        s[1],
        Step::Trim(Trim::Edges {
            top: 1,
            right: 2,
            bottom: 3,
            left: 4
        })
    );
    // Cloudflare flips before it rotates.
    assert_eq!(
        s[2],
        Step::Flip {
            horizontal: true,
            vertical: true
        }
    );
    assert_eq!(s[3], Step::Rotate { degrees: 90 });
    assert!(matches!(s[4], Step::Resize(_)));
    assert_eq!(
        s[5],
        Step::Adjust(Adjust {
            brightness_milli: 500,
            contrast_milli: 2000,
            gamma_milli: 1500,
            saturation_milli: 0
        })
    );
    assert_eq!(s[6], Step::Sharpen(85));
    assert_eq!(
        s[7],
        Step::Blur {
            radius: 10,
            sigma: 5
        }
    );
    assert_eq!(t.pipeline.output.quality, Some(Quality::Absolute(55)));
    assert_eq!(
        t.pipeline.output.format,
        Some(FormatChoice::Fixed(Format::Webp))
    );

    assert_eq!(steps("trim=border"), vec![Step::Trim(Trim::Border)]);
    assert_eq!(
        steps("trim.left=5,trim.top=2"),
        vec![Step::Trim(Trim::Edges {
            top: 2,
            right: 0,
            bottom: 0,
            left: 5
        })]
    );
    assert_eq!(steps("f=json"), vec![Step::Facts]);
    let jpeg = parse_options("format=jpeg").unwrap().pipeline.output;
    assert!(jpeg.progressive);
    let baseline = parse_options("format=baseline-jpeg")
        .unwrap()
        .pipeline
        .output;
    assert!(!baseline.progressive);
    assert_eq!(
        parse_options("f=auto").unwrap().pipeline.output.format,
        Some(FormatChoice::Auto)
    );
    assert!(steps("rotate=0,anim=true,brightness=1").is_empty());
}

#[test]
fn refusals_name_the_option() {
    let message = |o: &str| parse_options(o).unwrap_err().to_string();
    assert!(message("w=10,bogus=1").contains("\"bogus\""));
    assert!(message("width=0").contains("width"));
    assert!(message("width=12001").contains("width"));
    assert!(message("fit=stretch").contains("fit"));
    assert!(message("rotate=45").contains("rotate"));
    assert!(message("flip=x").contains("flip"));
    assert!(message("gravity=2x0").contains("gravity"));
    assert!(message("trim=1;2").contains("trim"));
    assert!(message("quality=abc").contains("quality"));
    assert!(message("onerror=ignore").contains("onerror"));
    assert!(message("metadata=all").contains("metadata"));
    assert!(message("w").contains("key=value"));
    assert!(parse_options("").is_err());
}

#[test]
fn named_variants() {
    let p = variant_pipeline(
        VariantFit::ScaleDown,
        Some(1366),
        Some(768),
        MetadataPolicy::None,
    );
    assert_eq!(
        p.steps,
        vec![resize(Fit::Contain, Some(1366), Some(768), false)]
    );
    assert_eq!(p.output.format, Some(FormatChoice::Auto));
    assert_eq!(VariantFit::from_name("squeeze"), None);
    assert_eq!(VariantFit::from_name("crop"), Some(VariantFit::Crop));
    assert_eq!(
        MetadataPolicy::from_name("keep").map(MetadataPolicy::name),
        Some("keep")
    );
    // Distinct pipelines, distinct canonical strings (ETags and cache keys).
    let a = parse_options("w=10,flip=h").unwrap().pipeline.canonical();
    let b = parse_options("w=10,flip=v").unwrap().pipeline.canonical();
    assert_ne!(a, b);
}

#[test]
fn mangled_option_lists_never_panic() {
    // Every one-character replacement, insertion and deletion of a list using every
    // option: each either parses (and has a canonical form) or is refused with a message.
    let base = "w=400,h=300,fit=cover,g=0.5x0.5,dpr=2,q=80,f=auto,background=rgb(1,2,3),\
                blur=3,brightness=1.2,contrast=0.8,gamma=1.1,saturation=0.5,sharpen=2,\
                rotate=90,flip=hv,trim=1;2;3;4,trim.left=2,metadata=keep,anim=false,onerror=redirect";
    let alphabet = [
        '=', ',', ';', '(', ')', 'x', '.', '-', '0', '9', '%', ' ', 'é',
    ];
    let chars: Vec<char> = base.chars().collect();
    let mut tried = 0;
    for i in 0..=chars.len() {
        let mut variants = Vec::new();
        if i < chars.len() {
            let mut deleted = chars.clone();
            deleted.remove(i);
            variants.push(deleted);
        }
        for c in alphabet {
            let mut inserted = chars.clone();
            inserted.insert(i, c);
            variants.push(inserted);
            if i < chars.len() {
                let mut replaced = chars.clone();
                replaced[i] = c;
                variants.push(replaced);
            }
        }
        for v in variants {
            let text: String = v.into_iter().collect();
            match parse_options(&text) {
                Ok(t) => assert!(!t.pipeline.canonical().is_empty() || t.pipeline.is_empty()),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
            tried += 1;
        }
    }
    assert!(tried > 5000, "{tried}");
}

#[test]
fn flip_comes_before_rotate() {
    let steps = parse_options("rotate=90,flip=h").unwrap().pipeline.steps;
    let flip = steps.iter().position(|s| matches!(s, Step::Flip { .. }));
    let rotate = steps.iter().position(|s| matches!(s, Step::Rotate { .. }));
    assert!(flip.is_some() && flip < rotate, "{steps:?}");
}
