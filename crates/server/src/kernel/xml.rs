//! XML text escaping, the S3-style error document (S3, the delivery door, and the
//! listener's own refusals), and [`parse`], the reader of the small request documents
//! doors take (OSS's `CreateBucketConfiguration`, `Delete`).

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>`.
pub fn s3_error_document(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        escape(code),
        escape(message),
        escape(resource),
        escape(request_id)
    )
}

/// One element of a parsed request document: its local name (any namespace prefix
/// dropped), its text (character and predefined entity references resolved, CDATA kept,
/// whitespace as sent) and its child elements in document order. Attributes are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Deepest nesting [`parse`] accepts; request documents are two or three levels deep.
pub const MAX_DEPTH: usize = 16;

/// Reads a whole document into its root [`Element`]: UTF-8, one root element, and
/// around it only whitespace, comments, the XML declaration and processing
/// instructions. A `DOCTYPE` is refused, so no entity can be defined. The message of an
/// `Err` says what is wrong, for the client's `MalformedXML`.
pub fn parse(doc: &[u8]) -> Result<Element, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(doc).map_err(|_| "the document is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    fn bad(e: impl std::fmt::Display) -> String {
        format!("the document is not well-formed XML: {e}")
    }
    loop {
        let event = reader.read_event().map_err(bad)?;
        let is_start = matches!(event, Event::Start(_));
        let (element, text) = match event {
            Event::Start(start) | Event::Empty(start) => {
                if root.is_some() {
                    return Err("the document has more than one root element".into());
                }
                if open.len() >= MAX_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_DEPTH} levels"));
                }
                let name = std::str::from_utf8(start.local_name().as_ref())
                    .map_err(bad)?
                    .to_owned();
                let element = Element {
                    name,
                    ..Element::default()
                };
                if is_start {
                    open.push(element);
                    continue;
                }
                (Some(element), None)
            }
            Event::End(_) => (open.pop(), None),
            Event::Text(t) => (None, Some(t.xml10_content().map_err(bad)?.into_owned())),
            Event::CData(c) => (None, Some(c.decode().map_err(bad)?.into_owned())),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(bad)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(bad)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("the entity &{name}; is not defined"))?
                            .to_owned()
                    }
                };
                (None, Some(resolved))
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
            Event::Eof => break,
        };
        if let Some(text) = text {
            match open.last_mut() {
                Some(parent) => parent.text.push_str(&text),
                None if text.trim().is_empty() => {}
                None => return Err("the document has text outside its root element".into()),
            }
        }
        if let Some(element) = element {
            match open.last_mut() {
                Some(parent) => parent.children.push(element),
                None => root = Some(element),
            }
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(format!("the element <{}> is not closed", unclosed.name));
    }
    root.ok_or_else(|| "the document has no root element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_escape() {
        let doc = s3_error_document("A&B", "<x>", "/b/'k'", "\"r\"");
        assert!(
            doc.contains("<Code>A&amp;B</Code><Message>&lt;x&gt;</Message>"),
            "{doc}"
        );
        assert!(
            doc.contains(
                "<Resource>/b/&apos;k&apos;</Resource><RequestId>&quot;r&quot;</RequestId>"
            )
        );
    }

    #[test]
    fn documents_parse_into_elements() {
        let doc = parse(
            b"<?xml version='1.0' encoding='utf-8'?>\n<!-- c --><Delete xmlns=\"http://x\"><Quiet>true</Quiet>\
              <Object><Key> a&amp;b&#x4e2d;&lt;<![CDATA[<c>]]> </Key></Object><Object><Key/></Object></Delete>\n",
        )
        .unwrap();
        assert_eq!(doc.name, "Delete");
        assert_eq!(doc.child("Quiet").map(|q| q.text.as_str()), Some("true"));
        let keys: Vec<&str> = doc
            .children_named("Object")
            .filter_map(|o| o.child("Key"))
            .map(|k| k.text.as_str())
            .collect();
        assert_eq!(keys, [" a&b\u{4e2d}<<c> ", ""]);
        assert!(doc.child("Nope").is_none());
        let prefixed = parse(b"<s:Root xmlns:s='u'><s:A>1</s:A></s:Root>").unwrap();
        assert_eq!(prefixed.child("A").map(|a| a.text.as_str()), Some("1"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let refused: [&[u8]; 11] = [
            b"",
            b"   ",
            b"not xml",
            b"<Delete>",
            b"<Delete><Object></Delete>",
            b"<Delete></Object>",
            b"<A/><B/>",
            b"<A/>trailing",
            b"<A>&bogus;</A>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<A>\xff</A>",
        ];
        for bad in refused {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
