//! `multipart/form-data` (RFC 7578) and `application/x-www-form-urlencoded` request
//! bodies, read into named fields. Bodies are read whole, under the caller's byte limit,
//! since form uploads are bounded (an image upload's limit is megabytes, not gigabytes).

use bytes::Bytes;

/// One form field; `filename` is set for file parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

impl Field {
    pub fn text(&self) -> Result<&str, FormError> {
        std::str::from_utf8(&self.data)
            .map_err(|_| FormError(format!("field {:?} is not UTF-8", self.name)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError(pub String);

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed form, fields in the order sent.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub fields: Vec<Field>,
}

impl Form {
    /// Parses `body` by its `Content-Type`: multipart or URL-encoded.
    pub fn parse(content_type: &str, body: Bytes) -> Result<Form, FormError> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "multipart/form-data" => {
                let boundary = parameter(content_type, "boundary").ok_or_else(|| {
                    FormError("multipart/form-data needs a boundary parameter".into())
                })?;
                parse_multipart(&boundary, body)
            }
            "application/x-www-form-urlencoded" => Ok(parse_urlencoded(&body)),
            _ => Err(FormError(format!(
                "expected a multipart/form-data or application/x-www-form-urlencoded body, got {content_type:?}"
            ))),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A text field's value; `Ok(None)` when absent.
    pub fn text(&self, name: &str) -> Result<Option<&str>, FormError> {
        self.get(name).map(Field::text).transpose()
    }
}

/// A `name=value` parameter of a header such as `Content-Type` or
/// `Content-Disposition`, unquoted.
fn parameter(header: &str, name: &str) -> Option<String> {
    let mut rest = header.split_once(';')?.1;
    loop {
        let trimmed = rest.trim_start();
        let (key, after) = trimmed.split_once('=')?;
        let key = key.trim();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            let tail = quoted[end..].split_once(';').map(|(_, t)| t);
            (out, tail)
        } else {
            match after.split_once(';') {
                Some((v, t)) => (v.trim().to_owned(), Some(t)),
                None => (after.trim().to_owned(), None),
            }
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = tail?;
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

fn parse_multipart(boundary: &str, body: Bytes) -> Result<Form, FormError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut pos = find(&body, delimiter, 0)
        .ok_or_else(|| FormError("the multipart body has no boundary line".into()))?;
    let mut fields = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            return Ok(Form { fields });
        }
        // The rest of the boundary line (transport padding), then CRLF.
        let line_end = find(&body, b"\r\n", pos)
            .ok_or_else(|| FormError("a multipart boundary line does not end".into()))?;
        let head_start = line_end + 2;
        let head_end = find(&body, b"\r\n\r\n", head_start)
            .ok_or_else(|| FormError("a multipart part has no end of headers".into()))?;
        let head = std::str::from_utf8(&body[head_start..head_end])
            .map_err(|_| FormError("multipart part headers are not UTF-8".into()))?;
        let data_start = head_end + 4;
        let mut next_delimiter = Vec::with_capacity(delimiter.len() + 2);
        next_delimiter.extend_from_slice(b"\r\n");
        next_delimiter.extend_from_slice(delimiter);
        let data_end = find(&body, &next_delimiter, data_start)
            .ok_or_else(|| FormError("the multipart body ends inside a part".into()))?;
        fields.push(part(head, body.slice(data_start..data_end))?);
        pos = data_end + 2;
    }
}

fn part(head: &str, data: Bytes) -> Result<Field, FormError> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((header, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if header.trim().eq_ignore_ascii_case("content-disposition") {
            name = parameter(value, "name");
            filename = parameter(value, "filename");
        } else if header.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        }
    }
    let name =
        name.ok_or_else(|| FormError("a multipart part has no Content-Disposition name".into()))?;
    Ok(Field {
        name,
        filename,
        content_type,
        data,
    })
}

fn parse_urlencoded(body: &[u8]) -> Form {
    let decode = |s: &[u8]| {
        let plus: Vec<u8> = s
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus).collect::<Vec<u8>>()
    };
    let fields = body
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            Field {
                name: String::from_utf8_lossy(&decode(k)).into_owned(),
                filename: None,
                content_type: None,
                data: Bytes::from(decode(v)),
            }
        })
        .collect();
    Form { fields }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields_and_files() {
        let body: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\":1}\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n\
                    Content-Type: image/png\r\n\r\n\x89PNG\r\n--not-the-end\r\n--XyZ--\r\n";
        let form = Form::parse(
            "multipart/form-data; boundary=XyZ",
            Bytes::from_static(body),
        )
        .unwrap();
        assert_eq!(form.fields.len(), 2);
        assert_eq!(form.text("metadata").unwrap(), Some("{\"a\":1}"));
        let file = form.get("file").unwrap();
        assert_eq!(file.filename.as_deref(), Some("a \"b\".png"));
        assert_eq!(file.content_type.as_deref(), Some("image/png"));
        assert_eq!(&file.data[..], b"\x89PNG\r\n--not-the-end");
        assert_eq!(form.text("missing").unwrap(), None);
    }

    #[test]
    fn quoted_boundaries_and_empty_forms() {
        let form = Form::parse(
            "multipart/form-data; charset=utf-8; boundary=\"a b\"",
            Bytes::from("--a b--\r\n"),
        )
        .unwrap();
        assert!(form.fields.is_empty());
    }

    #[test]
    fn broken_bodies_are_refused() {
        let ct = "multipart/form-data; boundary=B";
        assert!(Form::parse(ct, Bytes::from("no boundary here")).is_err());
        assert!(
            Form::parse(
                ct,
                Bytes::from("--B\r\nContent-Disposition: form-data; name=x\r\n\r\nunterminated")
            )
            .is_err()
        );
        assert!(Form::parse("multipart/form-data", Bytes::new()).is_err());
        assert!(Form::parse("application/json", Bytes::new()).is_err());
    }

    #[test]
    fn urlencoded_fields() {
        let form = Form::parse(
            "application/x-www-form-urlencoded",
            Bytes::from("requireSignedURLs=true&metadata=%7B%22k%22%3A%22v+w%22%7D&flag"),
        )
        .unwrap();
        assert_eq!(form.text("requireSignedURLs").unwrap(), Some("true"));
        assert_eq!(form.text("metadata").unwrap(), Some("{\"k\":\"v w\"}"));
        assert_eq!(form.text("flag").unwrap(), Some(""));
    }
}
