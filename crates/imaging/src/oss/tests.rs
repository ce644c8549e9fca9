use super::*;
use crate::ir::OutputOptions;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

fn pipeline(input: &str) -> Pipeline {
    match parse_process(input) {
        Ok(Process::Pipeline(pipeline)) => pipeline,
        other => panic!("{input}: expected a pipeline, got {other:?}"),
    }
}

fn only_step(input: &str) -> Step {
    let mut pipeline = pipeline(input);
    assert_eq!(pipeline.steps.len(), 1, "{input}");
    assert_eq!(pipeline.output, OutputOptions::default(), "{input}");
    pipeline.steps.remove(0)
}

fn error(input: &str) -> ProcessError {
    match parse(input) {
        Err(error) => error,
        Ok(request) => panic!("{input}: expected an error, got {request:?}"),
    }
}

fn message(input: &str) -> String {
    error(input).to_string()
}

fn canonical(input: &str) -> String {
    match parse(input) {
        Ok(request) => request.canonical(),
        Err(error) => panic!("{input}: {error}"),
    }
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn resize(input: &str) -> Resize {
    match only_step(input) {
        Step::Resize(resize) => resize,
        other => panic!("{input}: {other:?}"),
    }
}

fn watermark(input: &str) -> Watermark {
    match only_step(input) {
        Step::Watermark(watermark) => *watermark,
        other => panic!("{input}: {other:?}"),
    }
}

/// Asserts both bounds are accepted and one past each is rejected with the standard
/// range message.
fn assert_range(template: &str, action: &str, field: &str, min: i64, max: i64) {
    for inside in [min, max] {
        let input = template.replace("{}", &inside.to_string());
        assert!(parse(&input).is_ok(), "{input} should parse");
    }
    for outside in [min - 1, max + 1] {
        let input = template.replace("{}", &outside.to_string());
        assert_eq!(
            message(&input),
            format!("{action}: {field} must be between {min} and {max}, got {outside}"),
            "{input}"
        );
    }
}

// ---- resize ----

#[test]
fn resize_happy_path() {
    assert_eq!(
        resize("image/resize,w_100,h_50,m_fill"),
        Resize {
            fit: Fit::CoverCrop,
            target: ResizeTarget::Box {
                width: Some(100),
                height: Some(50)
            },
            enlarge: false,
        }
    );
}

#[test]
fn resize_defaults_are_lfit_and_no_enlarging() {
    let parsed = resize("image/resize,w_100");
    assert_eq!(parsed.fit, Fit::Contain);
    assert!(!parsed.enlarge);
    assert!(resize("image/resize,w_100,limit_0").enlarge);
    assert!(!resize("image/resize,w_100,limit_1").enlarge);
}

#[test]
fn resize_modes() {
    let cases = [
        ("lfit", Fit::Contain),
        ("mfit", Fit::Cover),
        ("fill", Fit::CoverCrop),
        (
            "pad",
            Fit::Pad {
                background: Rgb::WHITE,
            },
        ),
        ("fixed", Fit::Stretch),
    ];
    for (mode, fit) in cases {
        assert_eq!(resize(&format!("image/resize,m_{mode},w_10,h_10")).fit, fit);
    }
    assert_eq!(
        message("image/resize,m_stretch,w_10"),
        "resize: parameter m has malformed value \"stretch\", expected one of lfit, mfit, fill, pad, fixed"
    );
}

#[test]
fn resize_pad_colour() {
    assert_eq!(
        resize("image/resize,m_pad,w_10,h_10,color_ff0080").fit,
        Fit::Pad {
            background: Rgb {
                r: 0xFF,
                g: 0,
                b: 0x80
            }
        }
    );
    for bad in ["FFF", "GGGGGG", "FFFFFFF", "", "#FFFFFF"] {
        let input = format!("image/resize,m_pad,w_10,color_{bad}");
        assert!(
            matches!(
                error(&input),
                ProcessError::Malformed {
                    action: "resize",
                    field: Field::Named("color"),
                    ..
                }
            ),
            "{input}"
        );
    }
}

#[test]
fn resize_long_short_and_percent() {
    assert_eq!(
        resize("image/resize,l_300,s_200").target,
        ResizeTarget::LongShort {
            long: Some(300),
            short: Some(200)
        }
    );
    assert_eq!(
        resize("image/resize,p_50").target,
        ResizeTarget::Percent(50)
    );
    // OSS: w/h win over l/s.
    assert_eq!(
        resize("image/resize,w_10,l_300").target,
        ResizeTarget::Box {
            width: Some(10),
            height: None
        }
    );
}

#[test]
fn resize_ranges() {
    for field in ["w", "h", "l", "s"] {
        assert_range(
            &format!("image/resize,{field}_{{}}"),
            "resize",
            &format!("parameter {field}"),
            1,
            16384,
        );
    }
    assert_range("image/resize,p_{}", "resize", "parameter p", 1, 1000);
    assert_eq!(
        message("image/resize,w_0"),
        "resize: parameter w must be between 1 and 16384, got 0"
    );
}

#[test]
fn resize_requires_a_size_and_rejects_percent_with_sides() {
    assert_eq!(
        message("image/resize,m_fill"),
        "resize: one of parameters w, h, l, s, p is required"
    );
    assert_eq!(
        message("image/resize,p_50,h_10"),
        "resize: parameters p and h cannot be combined"
    );
    assert_eq!(
        message("image/resize,w_1,limit_2"),
        "resize: parameter limit has malformed value \"2\", expected 0 or 1"
    );
}

// ---- crop, indexcrop, circle, rounded-corners ----

#[test]
fn crop_happy_path_and_defaults() {
    assert_eq!(
        only_step("image/crop,w_100,h_50,x_10,y_20,g_se"),
        Step::Crop(Crop {
            origin: Gravity::SouthEast,
            x: 10,
            y: 20,
            width: Some(100),
            height: Some(50),
        })
    );
    assert_eq!(
        only_step("image/crop,w_100"),
        Step::Crop(Crop {
            origin: Gravity::NorthWest,
            x: 0,
            y: 0,
            width: Some(100),
            height: None,
        })
    );
}

#[test]
fn crop_gravities() {
    let cases = [
        ("nw", Gravity::NorthWest),
        ("north", Gravity::North),
        ("ne", Gravity::NorthEast),
        ("west", Gravity::West),
        ("center", Gravity::Center),
        ("east", Gravity::East),
        ("sw", Gravity::SouthWest),
        ("south", Gravity::South),
        ("se", Gravity::SouthEast),
    ];
    for (name, gravity) in cases {
        match only_step(&format!("image/crop,g_{name}")) {
            Step::Crop(crop) => assert_eq!(crop.origin, gravity),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        message("image/crop,g_middle"),
        "crop: parameter g has malformed value \"middle\", expected one of nw, north, ne, west, center, east, sw, south, se"
    );
}

#[test]
fn crop_ranges() {
    assert_range("image/crop,x_{}", "crop", "parameter x", 0, 30000);
    assert_range("image/crop,y_{}", "crop", "parameter y", 0, 30000);
    assert_range("image/crop,w_{}", "crop", "parameter w", 1, 30000);
    assert_range("image/crop,h_{}", "crop", "parameter h", 1, 30000);
}

#[test]
fn indexcrop() {
    assert_eq!(
        only_step("image/indexcrop,x_100,i_2"),
        Step::IndexCrop(IndexCrop {
            axis: Axis::Horizontal,
            slice: 100,
            index: 2
        })
    );
    assert_eq!(
        only_step("image/indexcrop,y_50"),
        Step::IndexCrop(IndexCrop {
            axis: Axis::Vertical,
            slice: 50,
            index: 0
        })
    );
    assert_eq!(
        message("image/indexcrop,x_1,y_1"),
        "indexcrop: parameters x and y cannot be combined"
    );
    assert_eq!(
        message("image/indexcrop,i_1"),
        "indexcrop: one of parameters x, y is required"
    );
    assert_range("image/indexcrop,x_{}", "indexcrop", "parameter x", 1, 30000);
    assert_range(
        "image/indexcrop,x_5,i_{}",
        "indexcrop",
        "parameter i",
        0,
        30000,
    );
}

#[test]
fn circle_and_rounded_corners() {
    assert_eq!(
        only_step("image/circle,r_100"),
        Step::Circle { radius: 100 }
    );
    assert_eq!(
        only_step("image/rounded-corners,r_30"),
        Step::RoundedCorners { radius: 30 }
    );
    assert_range("image/circle,r_{}", "circle", "parameter r", 1, 4096);
    assert_range(
        "image/rounded-corners,r_{}",
        "rounded-corners",
        "parameter r",
        1,
        4096,
    );
    assert_eq!(message("image/circle"), "circle: parameter r is required");
}

// ---- bare-valued actions ----

#[test]
fn rotate_and_auto_orient() {
    assert_eq!(only_step("image/rotate,90"), Step::Rotate { degrees: 90 });
    assert_range("image/rotate,{}", "rotate", "value", 0, 360);
    assert_eq!(only_step("image/auto-orient,1"), Step::AutoOrient(true));
    assert_eq!(only_step("image/auto-orient,0"), Step::AutoOrient(false));
    assert_eq!(
        message("image/auto-orient,2"),
        "auto-orient: value has malformed value \"2\", expected 0 or 1"
    );
}

#[test]
fn bare_value_count() {
    assert_eq!(
        message("image/rotate"),
        "rotate: expected exactly one value, got 0"
    );
    assert_eq!(
        message("image/rotate,1,2,3"),
        "rotate: expected exactly one value, got 3"
    );
    assert_eq!(
        message("image/rotate,r_90"),
        "rotate: value has malformed value \"r_90\", expected an integer"
    );
}

#[test]
fn blur() {
    assert_eq!(
        only_step("image/blur,r_3,s_2"),
        Step::Blur {
            radius: 3,
            sigma: 2
        }
    );
    assert_range("image/blur,r_{},s_1", "blur", "parameter r", 1, 50);
    assert_range("image/blur,r_1,s_{}", "blur", "parameter s", 1, 50);
    assert_eq!(message("image/blur,r_3"), "blur: parameter s is required");
}

#[test]
fn bright_contrast_sharpen() {
    assert_eq!(only_step("image/bright,-20"), Step::Brightness(-20));
    assert_eq!(only_step("image/contrast,35"), Step::Contrast(35));
    assert_eq!(only_step("image/sharpen,100"), Step::Sharpen(100));
    assert_range("image/bright,{}", "bright", "value", -100, 100);
    assert_range("image/contrast,{}", "contrast", "value", -100, 100);
    assert_range("image/sharpen,{}", "sharpen", "value", 50, 399);
}

// ---- output options ----

#[test]
fn formats() {
    let cases = [
        ("jpg", Format::Jpeg),
        ("jpeg", Format::Jpeg),
        ("png", Format::Png),
        ("webp", Format::Webp),
        ("avif", Format::Avif),
        ("gif", Format::Gif),
        ("bmp", Format::Bmp),
        ("tiff", Format::Tiff),
        ("heic", Format::Heic),
    ];
    for (name, format) in cases {
        let parsed = pipeline(&format!("image/format,{name}"));
        assert!(parsed.steps.is_empty());
        assert_eq!(parsed.output.format, Some(FormatChoice::Fixed(format)));
    }
    assert_eq!(
        pipeline("image/format,auto").output.format,
        Some(FormatChoice::Auto)
    );
    assert!(matches!(
        error("image/format,xyz"),
        ProcessError::Malformed {
            action: "format",
            field: Field::Bare,
            ..
        }
    ));
    assert_eq!(
        message("image/format,png/format,jpg"),
        "format: action given more than once"
    );
}

#[test]
fn quality() {
    assert_eq!(
        pipeline("image/quality,q_80").output.quality,
        Some(Quality::Relative(80))
    );
    assert_eq!(
        pipeline("image/quality,Q_90").output.quality,
        Some(Quality::Absolute(90))
    );
    assert_range("image/quality,q_{}", "quality", "parameter q", 1, 100);
    assert_range("image/quality,Q_{}", "quality", "parameter Q", 1, 100);
    assert_eq!(
        message("image/quality,q_1,Q_1"),
        "quality: parameters q and Q cannot be combined"
    );
    assert_eq!(
        message("image/quality"),
        "quality: one of parameters q, Q is required"
    );
}

#[test]
fn interlace() {
    assert!(pipeline("image/interlace,1").output.progressive);
    assert!(!pipeline("image/interlace,0").output.progressive);
    assert!(matches!(
        error("image/interlace,yes"),
        ProcessError::Malformed {
            action: "interlace",
            ..
        }
    ));
}

#[test]
fn actions_run_in_given_order() {
    let parsed = pipeline("image/resize,w_100,h_50,m_fill/rotate,90/format,webp");
    assert_eq!(parsed.steps.len(), 2);
    assert!(matches!(parsed.steps.first(), Some(Step::Resize(_))));
    assert_eq!(parsed.steps.get(1), Some(&Step::Rotate { degrees: 90 }));
    assert_eq!(
        parsed.output.format,
        Some(FormatChoice::Fixed(Format::Webp))
    );
}

#[test]
fn info_and_average_hue() {
    assert_eq!(only_step("image/info"), Step::Info);
    assert_eq!(only_step("image/average-hue"), Step::AverageHue);
    assert_eq!(message("image/info,x_1"), "info: takes no parameters");
    assert_eq!(
        message("image/average-hue,"),
        "average-hue: takes no parameters"
    );
}

// ---- watermark ----

#[test]
fn text_watermark_defaults() {
    let parsed = watermark(&format!("image/watermark,text_{}", b64("Hello 图片服务!")));
    assert_eq!(
        parsed,
        Watermark {
            content: WatermarkContent::Text(TextMark {
                text: "Hello 图片服务!".to_owned(),
                font: "wqy-zenhei".to_owned(),
                color: Rgb::BLACK,
                size: 40,
                shadow: 0,
                rotate: 0,
            }),
            gravity: Gravity::SouthEast,
            x: 10,
            y: 10,
            voffset: 0,
            opacity: 100,
            tile: false,
        }
    );
}

#[test]
fn text_watermark_from_oss_docs() {
    // The example from OSS's documentation, padded base64 and all.
    let parsed = watermark(
        "image/watermark,text_SGVsbG8g5Zu-54mH5pyN5YqhIQ,size_60,color_FF0000,type_ZmFuZ3poZW5nc2h1c29uZw==,g_center,rotate_30",
    );
    let WatermarkContent::Text(text) = parsed.content else {
        panic!("{parsed:?}");
    };
    assert_eq!(text.text, "Hello 图片服务!");
    assert_eq!(text.font, "fangzhengshusong");
    assert_eq!(text.size, 60);
    assert_eq!(text.rotate, 30);
    assert_eq!(
        text.color,
        Rgb {
            r: 0xFF,
            g: 0,
            b: 0
        }
    );
    assert_eq!(parsed.gravity, Gravity::Center);
}

#[test]
fn watermark_all_parameters() {
    let input = format!(
        "image/watermark,text_{},type_{},color_00FF00,size_20,shadow_50,rotate_45,fill_1,image_{},P_30,t_70,g_nw,x_5,y_6,voffset_-7,order_1,align_1,interval_8",
        b64("hi"),
        b64("wqy-microhei"),
        b64("logo.png"),
    );
    let parsed = watermark(&input);
    assert_eq!(
        parsed,
        Watermark {
            content: WatermarkContent::TextAndImage {
                text: TextMark {
                    text: "hi".to_owned(),
                    font: "wqy-microhei".to_owned(),
                    color: Rgb {
                        r: 0,
                        g: 0xFF,
                        b: 0
                    },
                    size: 20,
                    shadow: 50,
                    rotate: 45,
                },
                image: ImageMark {
                    key: "logo.png".to_owned(),
                    process: None,
                    scale_percent: Some(30),
                },
                layout: MixedLayout {
                    order: MarkOrder::TextFirst,
                    align: MarkAlign::Center,
                    interval: 8,
                },
            },
            gravity: Gravity::NorthWest,
            x: 5,
            y: 6,
            voffset: -7,
            opacity: 70,
            tile: true,
        }
    );
}

#[test]
fn watermark_mixed_layout_defaults() {
    let parsed = watermark(&format!(
        "image/watermark,text_{},image_{}",
        b64("a"),
        b64("b.png")
    ));
    let WatermarkContent::TextAndImage { layout, .. } = parsed.content else {
        panic!("{parsed:?}");
    };
    assert_eq!(
        layout,
        MixedLayout {
            order: MarkOrder::ImageFirst,
            align: MarkAlign::Bottom,
            interval: 0
        }
    );
}

#[test]
fn watermark_ranges() {
    let text = format!("image/watermark,text_{}", b64("x"));
    let cases = [
        ("size", 1, 1000),
        ("shadow", 0, 100),
        ("rotate", 0, 360),
        ("t", 0, 100),
        ("x", 0, 4096),
        ("y", 0, 4096),
        ("voffset", -1000, 1000),
        ("order", 0, 1),
        ("align", 0, 2),
        ("interval", 0, 1000),
    ];
    for (field, min, max) in cases {
        assert_range(
            &format!("{text},{field}_{{}}"),
            "watermark",
            &format!("parameter {field}"),
            min,
            max,
        );
    }
    let image = format!("image/watermark,image_{}", b64("m.png"));
    assert_range(
        &format!("{image},P_{{}}"),
        "watermark",
        "parameter P",
        1,
        100,
    );
}

#[test]
fn watermark_text_limits() {
    let sixty_four = "字".repeat(64);
    assert!(parse(&format!("image/watermark,text_{}", b64(&sixty_four))).is_ok());
    assert_eq!(
        message(&format!("image/watermark,text_{}", b64(&"字".repeat(65)))),
        "watermark: parameter text must be between 1 and 64, got 65 characters"
    );
    assert!(matches!(
        error(&format!("image/watermark,text_{}", b64("two\nlines"))),
        ProcessError::Malformed {
            field: Field::Named("text"),
            ..
        }
    ));
    assert!(matches!(
        error(&format!(
            "image/watermark,text_{},type_{}",
            b64("a"),
            b64("../etc")
        )),
        ProcessError::Malformed {
            field: Field::Named("type"),
            ..
        }
    ));
}

#[test]
fn watermark_needs_content_and_valid_base64() {
    assert_eq!(
        message("image/watermark,g_se"),
        "watermark: one of parameters text, image is required"
    );
    assert_eq!(
        message("image/watermark,text_@@@"),
        "watermark: parameter text has malformed value \"@@@\", expected URL-safe base64 of UTF-8 text"
    );
    // Standard-alphabet base64 would have put '/' and '+' in the URL.
    assert!(parse("image/watermark,text_a+b=").is_err());
    let not_utf8 = URL_SAFE_NO_PAD.encode([0xFF, 0xFE]);
    assert!(parse(&format!("image/watermark,text_{not_utf8}")).is_err());
    assert!(parse(&format!("image/watermark,image_{}", b64(""))).is_err());
}

#[test]
fn watermark_nested_process() {
    let nested = "image/resize,P_20/rotate,90";
    // P_ is not a resize parameter; the nested process is parsed and its error wrapped.
    assert_eq!(
        message(&format!(
            "image/watermark,image_{}",
            b64(&format!("logo.png?x-oss-process={nested}"))
        )),
        "watermark: parameter image: nested process: resize: unknown parameter \"P\""
    );

    let nested = "image/resize,w_20/rotate,90";
    let reference = format!("dir/logo.png?x-oss-process={nested}");
    let parsed = watermark(&format!(
        "image/watermark,image_{},P_10,g_center",
        URL_SAFE.encode(&reference)
    ));
    let WatermarkContent::Image(image) = parsed.content else {
        panic!("{parsed:?}");
    };
    assert_eq!(image.key, "dir/logo.png");
    assert_eq!(image.scale_percent, Some(10));
    let process = image.process.expect("nested process");
    assert_eq!(process.source, nested);
    assert_eq!(process.pipeline, pipeline(nested));
}

#[test]
fn watermark_nested_process_restrictions() {
    let inner_mark = format!("image/watermark,image_{}", b64("x.png"));
    let outer = format!(
        "image/watermark,image_{}",
        b64(&format!("a.png?x-oss-process={inner_mark}"))
    );
    assert_eq!(
        message(&outer),
        "watermark: parameter image: nested process: watermark: parameter image: a watermark image's process cannot use image watermarks"
    );
    let styled = format!(
        "image/watermark,image_{}",
        b64("a.png?x-oss-process=style/thumb")
    );
    assert_eq!(
        message(&styled),
        "watermark: parameter image: nested process: watermark: parameter image: a watermark image's process cannot use styles"
    );
    let empty = format!("image/watermark,image_{}", b64("a.png?x-oss-process="));
    assert_eq!(
        message(&empty),
        "watermark: parameter image: nested process: process string is empty"
    );
    let without_key = format!(
        "image/watermark,image_{}",
        b64("?x-oss-process=image/rotate,9")
    );
    assert!(matches!(
        error(&without_key),
        ProcessError::Malformed {
            action: "watermark",
            field: Field::Named("image"),
            ..
        }
    ));
}

// ---- styles ----

#[test]
fn style_reference() {
    assert_eq!(
        parse_process("style/oss-pic-style-w-100"),
        Ok(Process::Style(
            StyleName::new("oss-pic-style-w-100").expect("valid")
        ))
    );
    assert_eq!(message("style/a/b"), "style: expected style/<name>");
    assert_eq!(message("style"), "style: expected style/<name>");
    assert!(matches!(
        error("style/"),
        ProcessError::InvalidStyleName { .. }
    ));
    assert!(matches!(
        error("style/bad name"),
        ProcessError::InvalidStyleName { .. }
    ));
    assert!(parse_process(&format!("style/{}", "a".repeat(64))).is_ok());
    assert!(parse_process(&format!("style/{}", "a".repeat(65))).is_err());
}

#[test]
fn style_resolution() {
    let style = parse_process("style/thumb").expect("parses");
    let resolved = style.resolve(|name| {
        assert_eq!(name.as_str(), "thumb");
        Ok::<_, ()>(pipeline("image/resize,w_100"))
    });
    assert_eq!(resolved, Ok(pipeline("image/resize,w_100")));
    let direct = parse_process("image/rotate,90").expect("parses");
    assert_eq!(
        direct.resolve(|_| Err("not called")),
        Ok(pipeline("image/rotate,90"))
    );
}

// ---- saveas ----

#[test]
fn saveas() {
    let input = format!(
        "image/resize,m_fixed,w_100,h_100|sys/saveas,o_{},b_{}",
        URL_SAFE.encode("out/example-resize.jpg"),
        b64("target-bucket")
    );
    let request = parse(&input).expect("parses");
    assert_eq!(
        request.save_as,
        Some(SaveAs {
            key: "out/example-resize.jpg".to_owned(),
            bucket: Some("target-bucket".to_owned()),
        })
    );
    assert_eq!(
        request.process,
        Process::Pipeline(pipeline("image/resize,m_fixed,w_100,h_100"))
    );

    let without_bucket = parse(&format!("style/s|sys/saveas,o_{}", b64("k"))).expect("parses");
    assert_eq!(
        without_bucket.save_as,
        Some(SaveAs {
            key: "k".to_owned(),
            bucket: None
        })
    );
    assert!(parse("image/rotate,90").expect("parses").save_as.is_none());
}

#[test]
fn saveas_errors() {
    assert_eq!(
        message(&format!("image/rotate,90|sys/saveas,b_{}", b64("b"))),
        "saveas: parameter o is required"
    );
    assert_eq!(
        message("image/rotate,90|sys/copy,o_YQ"),
        "unknown action \"sys/copy,o_YQ\" after |, expected sys/saveas"
    );
    assert_eq!(
        message("image/rotate,90|saveas,o_YQ"),
        "unknown action \"saveas,o_YQ\" after |, expected sys/saveas"
    );
    assert_eq!(
        message("image/rotate,90|sys/saveas,o_YQ|sys/saveas,o_YQ"),
        "only one |sys/saveas suffix is allowed"
    );
    assert_eq!(
        message("image/rotate,90|sys/saveas,o_YQ,x_1"),
        "saveas: unknown parameter \"x\""
    );
    assert!(matches!(
        error("image/rotate,90|sys/saveas,o_!!"),
        ProcessError::Malformed {
            action: "saveas",
            ..
        }
    ));
    assert_eq!(
        parse_process("image/rotate,90|sys/saveas,o_YQ"),
        Err(ProcessError::SaveAsNotAllowed)
    );
}

// ---- structural errors ----

#[test]
fn unknown_action_and_parameter() {
    assert_eq!(
        message("image/resize,w_1/sepia,50"),
        "unknown action \"sepia\""
    );
    assert_eq!(
        message("image/resize,w_1,z_3"),
        "resize: unknown parameter \"z\""
    );
    assert_eq!(
        message("image/resize,W_1"),
        "resize: unknown parameter \"W\""
    );
    let parameter_error = error("image/crop,q_1");
    assert_eq!(parameter_error.action(), Some("crop"));
    assert_eq!(parameter_error.parameter(), Some("q"));
    let range_error = error("image/resize,w_0");
    assert_eq!(range_error.action(), Some("resize"));
    assert_eq!(range_error.parameter(), Some("w"));
    assert_eq!(error("image/rotate,999").parameter(), None);
}

#[test]
fn malformed_structure() {
    assert_eq!(
        message("image/resize,w_1,w_2"),
        "resize: parameter w given more than once"
    );
    assert_eq!(
        message("image/resize,w100"),
        "resize: expected a parameter of the form key_value, got \"w100\""
    );
    assert_eq!(
        message("image/resize,w_1,"),
        "resize: expected a parameter of the form key_value, got \"\""
    );
    assert_eq!(
        message("image/resize,w_1//rotate,9"),
        "empty action at position 2"
    );
    assert_eq!(message("image/rotate,9/"), "empty action at position 2");
    assert_eq!(message(""), "process string is empty");
    assert_eq!(message("image"), "no actions after image/");
    assert_eq!(message("image/"), "no actions after image/");
    assert_eq!(
        message("video/snapshot,t_1"),
        "unknown process type \"video\", expected image or style"
    );
    assert!(matches!(
        error(&"x".repeat(MAX_PROCESS_LEN + 1)),
        ProcessError::TooLong { .. }
    ));
    let many = vec!["rotate,90"; MAX_ACTIONS + 1].join("/");
    assert!(matches!(
        error(&format!("image/{many}")),
        ProcessError::TooManyActions { .. }
    ));
    let limit = vec!["rotate,90"; MAX_ACTIONS].join("/");
    assert!(parse(&format!("image/{limit}")).is_ok());
}

#[test]
fn malformed_numbers() {
    for bad in ["+5", "1.5", " 5", "0x10", "", "-", "5a", "--5", "٣"] {
        let input = format!("image/resize,w_{bad}");
        assert_eq!(
            error(&input),
            ProcessError::Malformed {
                action: "resize",
                field: Field::Named("w"),
                got: bad.to_owned(),
                expected: "an integer",
            },
            "{input}"
        );
    }
    assert_eq!(
        message("image/resize,w_99999999999999999999999"),
        "resize: parameter w must be between 1 and 16384, got 99999999999999999999999"
    );
    assert_eq!(
        resize("image/resize,w_0100").target,
        resize("image/resize,w_100").target
    );
}

#[test]
fn long_input_is_truncated_in_messages() {
    let name = "a".repeat(500);
    let text = message(&format!("image/{name}"));
    assert!(text.len() < 100, "{text}");
}

// ---- canonical form ----

#[test]
fn canonical_examples() {
    assert_eq!(
        canonical("image/resize,w_100,h_50,m_fill/rotate,90/format,webp"),
        "image/resize,m_fill,w_100,h_50,limit_1/rotate,90/format,webp"
    );
    assert_eq!(
        canonical("image/resize,m_pad,w_10,h_10,color_abcdef,limit_0"),
        "image/resize,m_pad,w_10,h_10,limit_0,color_ABCDEF"
    );
    assert_eq!(canonical("image/crop,w_5"), "image/crop,g_nw,x_0,y_0,w_5");
    assert_eq!(
        canonical(&format!("image/watermark,text_{}", b64("hi"))),
        format!(
            "image/watermark,text_{},type_d3F5LXplbmhlaQ,color_000000,size_40,shadow_0,rotate_0,t_100,g_se,x_10,y_10,voffset_0,fill_0",
            b64("hi")
        )
    );
    assert_eq!(canonical("style/thumb"), "style/thumb");
    assert_eq!(
        canonical(&format!(
            "style/thumb|sys/saveas,b_{},o_{}",
            URL_SAFE.encode("bk"),
            b64("k")
        )),
        format!("style/thumb|sys/saveas,o_{},b_{}", b64("k"), b64("bk"))
    );
    assert_eq!(
        canonical("image/interlace,1/quality,Q_80/format,jpeg/info"),
        "image/info/format,jpg/quality,Q_80/interlace,1"
    );
}

#[test]
fn canonical_equal_for_equivalent_inputs() {
    let groups: Vec<Vec<String>> = vec![
        vec![
            "image/resize,w_100,h_50,m_fill".into(),
            "image/resize,m_fill,h_50,w_100".into(),
            "image/resize,limit_1,m_fill,w_0100,h_50".into(),
        ],
        vec![
            "image/resize,w_100".into(),
            "image/resize,m_lfit,w_100,limit_1".into(),
            "image/resize,w_100,color_123456".into(),
            "image/resize,w_100,l_300,s_5".into(),
            "image/resize,w_100/interlace,0".into(),
        ],
        vec![
            "image/resize,m_pad,w_1,h_1".into(),
            "image/resize,m_pad,w_1,h_1,color_ffffff".into(),
            "image/resize,color_FFFFFF,h_1,w_1,m_pad".into(),
        ],
        vec![
            "image/format,jpeg/rotate,90".into(),
            "image/rotate,90/format,jpg".into(),
        ],
        vec!["image/crop".into(), "image/crop,x_0,y_0,g_nw".into()],
        vec![
            "image/indexcrop,x_10".into(),
            "image/indexcrop,i_0,x_10".into(),
        ],
        vec![
            format!("image/watermark,text_{}", URL_SAFE.encode("hello")),
            format!("image/watermark,text_{}", b64("hello")),
            format!(
                "image/watermark,fill_0,t_100,g_se,x_10,y_10,voffset_0,text_{},type_d3F5LXplbmhlaQ==,color_000000,size_40,shadow_0,rotate_0,order_0,P_5",
                b64("hello")
            ),
        ],
        vec![
            format!(
                "image/watermark,image_{}",
                b64("a.png?x-oss-process=image/resize,w_10,m_lfit")
            ),
            format!(
                "image/watermark,image_{},size_99",
                URL_SAFE.encode("a.png?x-oss-process=image/resize,limit_1,w_10")
            ),
        ],
    ];
    for group in groups {
        let first = canonical(&group[0]);
        for other in &group[1..] {
            assert_eq!(canonical(other), first, "{} vs {}", group[0], other);
        }
    }
}

#[test]
fn canonical_differs_for_different_inputs() {
    let inputs = [
        "image/resize,w_100",
        "image/resize,w_101",
        "image/resize,h_100",
        "image/resize,l_100",
        "image/resize,s_100",
        "image/resize,p_100",
        "image/resize,w_100,limit_0",
        "image/resize,w_100,m_mfit",
        "image/resize,w_100,m_pad",
        "image/resize,w_100,m_pad,color_000000",
        "image/resize,w_100/rotate,90",
        "image/rotate,90/resize,w_100",
        "image/rotate,90/rotate,90",
        "image/rotate,0",
        "image/rotate,360",
        "image/quality,q_80",
        "image/quality,Q_80",
        "image/format,png",
        "image/format,auto",
        "image/indexcrop,x_10",
        "image/indexcrop,y_10",
        "image/auto-orient,0",
        "image/auto-orient,1",
        "image/info",
        "image/average-hue",
        "style/rotate",
    ];
    let mut seen = std::collections::HashMap::new();
    for input in inputs {
        if let Some(previous) = seen.insert(canonical(input), input) {
            panic!("{input} and {previous} share a canonical form");
        }
    }
    let with_saveas = format!("image/rotate,90|sys/saveas,o_{}", b64("k"));
    assert_ne!(canonical(&with_saveas), canonical("image/rotate,90"));
}

#[test]
fn canonical_round_trips() {
    let inputs = [
        "image/resize,w_100,h_50,m_fill/rotate,90/format,webp".to_owned(),
        "image/resize,m_pad,l_5,color_010203".to_owned(),
        "image/crop,w_1,h_2,x_3,y_4,g_south/indexcrop,y_7,i_2".to_owned(),
        "image/circle,r_9/rounded-corners,r_8/blur,r_1,s_50/bright,-100/contrast,100/sharpen,399"
            .to_owned(),
        "image/auto-orient,1/info/average-hue/quality,q_5/interlace,1/format,auto".to_owned(),
        format!(
            "image/watermark,text_{},image_{},P_3,order_1,align_0,interval_4,voffset_-1000,fill_1",
            b64("¡hola!"),
            b64("w/mark.png?x-oss-process=image/resize,w_10/rotate,5/format,png"),
        ),
        format!("style/abc|sys/saveas,o_{},b_{}", b64("out.jpg"), b64("bkt")),
    ];
    for input in inputs {
        let first = parse(&input).expect("parses");
        let text = first.canonical();
        let second = parse(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(second.canonical(), text, "{input}");
        assert_eq!(second.save_as, first.save_as);
    }
    // Without a nested source string the IR itself round-trips exactly.
    let plain = "image/resize,w_100/crop,g_se/rotate,7/format,gif";
    let parsed = parse(plain).expect("parses");
    assert_eq!(parse(&parsed.canonical()), Ok(parsed));
}

// ---- robustness ----

/// Deterministic xorshift so the test is reproducible without extra dependencies.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        let index = (self.next() % choices.len() as u64) as usize;
        choices.get(index).copied().unwrap_or("")
    }
}

#[test]
fn never_panics_on_garbage() {
    const CHARS: &[&str] = &[
        "a", "e", "i", "m", "g", "r", "s", "z", "w", "h", "l", "p", "x", "y", "q", "Q", "P", "t",
        "o", "b", "_", ",", "/", "|", "-", "=", "?", "0", "1", "9", "+", "A", "Z", " ", "é", "字",
        "\u{0}", "\n",
    ];
    // Fragments of real syntax, so that many strings get past the first checks and
    // exercise value parsing, nesting and the canonical form.
    let nested = b64("m.png?x-oss-process=image/resize,w_10/rotate,9");
    let deep = b64(&format!(
        "m.png?x-oss-process=image/watermark,image_{nested}"
    ));
    let fragments: Vec<&str> = vec![
        "image/",
        "style/",
        "|sys/saveas,",
        "/",
        ",",
        "resize",
        "crop",
        "indexcrop",
        "circle",
        "rounded-corners",
        "rotate",
        "auto-orient",
        "blur",
        "bright",
        "contrast",
        "sharpen",
        "format",
        "quality",
        "interlace",
        "watermark",
        "info",
        "average-hue",
        "m_",
        "w_",
        "h_",
        "l_",
        "s_",
        "p_",
        "limit_",
        "color_",
        "x_",
        "y_",
        "g_",
        "i_",
        "r_",
        "q_",
        "Q_",
        "text_",
        "type_",
        "size_",
        "shadow_",
        "fill_",
        "image_",
        "P_",
        "t_",
        "voffset_",
        "order_",
        "align_",
        "interval_",
        "o_",
        "b_",
        "0",
        "1",
        "-1",
        "100",
        "360",
        "16384",
        "99999999999999999999",
        "fill",
        "pad",
        "lfit",
        "se",
        "center",
        "FFFFFF",
        "webp",
        "jpeg",
        "auto",
        "aGk",
        "aGk=",
        &nested,
        &deep,
        "",
    ];

    let watermark_image = format!("image_{nested}");
    let watermark_deep = format!("image_{deep}");
    let actions: Vec<(&str, Vec<&str>)> = vec![
        (
            "resize",
            vec![
                "w_100",
                "h_0",
                "m_fill",
                "m_pad",
                "color_00ff00",
                "limit_0",
                "p_150",
                "l_5",
                "s_16385",
            ],
        ),
        (
            "crop",
            vec!["w_10", "h_10", "x_0", "y_30001", "g_se", "g_up"],
        ),
        ("indexcrop", vec!["x_10", "y_10", "i_3", "i_-1"]),
        ("circle", vec!["r_10", "r_0"]),
        ("rounded-corners", vec!["r_10", "r_4097"]),
        ("rotate", vec!["90", "361", "-1"]),
        ("auto-orient", vec!["0", "1", "2"]),
        ("blur", vec!["r_3", "s_2", "s_51"]),
        ("bright", vec!["50", "-101"]),
        ("contrast", vec!["-50", "101"]),
        ("sharpen", vec!["100", "49"]),
        ("format", vec!["webp", "jpeg", "auto", "svg"]),
        ("quality", vec!["q_80", "Q_90", "q_0"]),
        ("interlace", vec!["1", "0"]),
        (
            "watermark",
            vec![
                "text_aGk",
                "text_aGk=",
                "type_aGk",
                "type_d3F5LXplbmhlaQ",
                "size_30",
                "t_50",
                "g_nw",
                "P_20",
                "voffset_-9",
                "order_1",
                "align_1",
                &watermark_image,
                &watermark_deep,
            ],
        ),
        ("info", vec!["x_1"]),
        ("average-hue", vec![]),
    ];

    let mut rng = Garbage(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for round in 0..9000 {
        let pieces = (rng.next() % 24) as usize;
        let mut input = String::new();
        match round % 3 {
            0 => {
                for _ in 0..pieces {
                    input.push_str(rng.pick(CHARS));
                }
            }
            1 => {
                for _ in 0..pieces {
                    input.push_str(rng.pick(&fragments));
                }
            }
            _ => {
                // Well-formed shape with random content: reaches value checks and the
                // canonical form far more often than free text does.
                input.push_str("image");
                for _ in 0..(1 + pieces % 4) {
                    let index = (rng.next() % actions.len() as u64) as usize;
                    let Some((action, parameters)) = actions.get(index) else {
                        continue;
                    };
                    input.push('/');
                    input.push_str(action);
                    let count = if parameters.is_empty() {
                        0
                    } else {
                        rng.next() % 4
                    };
                    for _ in 0..count {
                        input.push(',');
                        input.push_str(rng.pick(parameters));
                    }
                }
                if rng.next().is_multiple_of(8) {
                    input.push_str("|sys/saveas,o_aGk");
                }
            }
        }
        let _ = parse_process(&input);
        if let Ok(request) = parse(&input) {
            accepted += 1;
            // Whatever parses must have a canonical form that parses to itself, except
            // a pipeline of no-ops (`interlace,0` alone), whose canonical form is empty.
            if let Process::Pipeline(pipeline) = &request.process
                && pipeline.is_empty()
            {
                assert!(request.process.canonical().is_empty(), "{input}");
                continue;
            }
            let text = request.canonical();
            let again = parse(&text).unwrap_or_else(|error| panic!("{input} -> {text}: {error}"));
            assert_eq!(again.canonical(), text, "{input}");
        }
    }
    assert!(accepted > 100, "generator too weak: {accepted} accepted");
}
