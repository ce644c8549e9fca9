//! XML text escaping and the S3-style error document (S3, the delivery door, and the
//! listener's own refusals).

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
}
