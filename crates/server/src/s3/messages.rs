//! Messages for the error documents s3s renders without one. s3s 0.14.1 refuses some
//! requests before imgd's code runs with a bare code, and clients then print "Unknown"
//! instead of what was wrong; the door fills the message in (S3 XML only, so this lives
//! with the S3 door, not in the kernel).

/// S3's message for a code, for errors raised without one. s3s 0.14.1 refuses some
/// requests before imgd's code runs with a bare code (`InvalidBucketName`,
/// `KeyTooLongError`, `InvalidURI`, ...), and clients then print "Unknown" instead of
/// what was wrong.
pub fn s3_default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidBucketName" => {
            "The specified bucket is not valid: bucket names must be 3 to 63 characters long, use only lower-case letters, digits, dots and hyphens, begin and end with a letter or digit, contain no two adjacent dots and not look like an IP address."
        }
        "KeyTooLongError" => "Your key is too long: the limit is 1024 bytes of UTF-8.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        "InvalidRequest" => "The request is not valid.",
        "InvalidArgument" => "An argument of the request is not valid.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema."
        }
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "AccessDenied" => "Access Denied",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the server's time is too large."
        }
        "AuthorizationHeaderMalformed" => "The authorization header you provided is not valid.",
        "InvalidDigest" => "The Content-MD5 or checksum value you specified is not valid.",
        "BadDigest" => "The Content-MD5 or checksum you specified did not match what we received.",
        "InternalError" => "We encountered an internal error. Please try again.",
        _ => return None,
    })
}

/// An S3 error document with its `<Message>` filled in from [`s3_default_message`]
/// (or, for a code without one, a sentence naming the code), when the document has no
/// message or an empty one; `None` when `xml` is not such a document.
pub fn s3_error_with_message(xml: &[u8]) -> Option<String> {
    let doc = std::str::from_utf8(xml).ok()?;
    let body = doc.split_once("<Error>")?.1;
    let has_message = body
        .split_once("<Message>")
        .is_some_and(|(_, rest)| !rest.starts_with("</Message>"));
    if has_message {
        return None;
    }
    let code = body.split_once("<Code>")?.1.split_once("</Code>")?.0;
    let message = s3_default_message(code)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("The request failed with {code}."));
    let rest = body
        .replace("<Message></Message>", "")
        .replace("<Message/>", "");
    let (before, after) = rest.split_once("</Code>")?;
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>{before}</Code><Message>{}</Message>{after}",
        crate::kernel::xml::escape(&message)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_less_s3_errors_get_one() {
        let bare = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>KeyTooLongError</Code></Error>";
        let doc = s3_error_with_message(bare).unwrap_or_default();
        assert!(
            doc.contains("<Code>KeyTooLongError</Code><Message>Your key is too long"),
            "{doc}"
        );
        let empty =
            b"<Error><Code>WeirdCode</Code><Message></Message><RequestId>r</RequestId></Error>";
        let doc = s3_error_with_message(empty).unwrap_or_default();
        assert!(
            doc.contains(
                "<Message>The request failed with WeirdCode.</Message><RequestId>r</RequestId>"
            ),
            "{doc}"
        );
        let told = b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert_eq!(s3_error_with_message(told), None);
        assert_eq!(s3_error_with_message(b"<ListBucketResult/>"), None);
    }
}
