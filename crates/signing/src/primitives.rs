//! Keyed hashes and comparison shared by the schemes.

use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 2104 key preparation: hash keys longer than a block, zero-pad the rest. Doing it
/// here lets us build the MAC from a block-sized key, which cannot fail, instead of
/// unwrapping the `Result` that `new_from_slice` returns for any key length.
fn block_sized_key<D: Digest + BlockSizeUser>(key: &[u8]) -> GenericArray<u8, D::BlockSize> {
    let mut block = GenericArray::<u8, D::BlockSize>::default();
    if key.len() > block.len() {
        let digest = D::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    block
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new(&block_sized_key::<Sha256>(key));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The key of a scoped HMAC-SHA256 scheme (AWS SigV4, OSS V4): `prefixed_secret` (the
/// secret behind the scheme's marker, `AWS4…` or `aliyun_v4…`) keyed over the scope's
/// date, region, service and terminator in turn.
pub(crate) fn scoped_key(prefixed_secret: &[u8], scope: [&str; 4]) -> [u8; 32] {
    let [date, region, service, terminator] = scope;
    let key = hmac_sha256(prefixed_secret, date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    hmac_sha256(&key, terminator.as_bytes())
}

/// Lower-case hex of the SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new(&block_sized_key::<Sha1>(key));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Equality whose timing does not reveal how long a prefix of a forged signature was
/// right. Lengths are public (every scheme's signature has a fixed length), so a length
/// mismatch may return early.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-sized key path must agree with the library's own key handling for
    /// short, exactly-one-block and longer-than-a-block keys.
    #[test]
    fn hmac_matches_library_key_handling() {
        for len in [0, 1, 20, 63, 64, 65, 200] {
            let key = vec![0x5a_u8; len];
            let mut reference = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            reference.update(b"message");
            assert_eq!(
                hmac_sha256(&key, b"message"),
                <[u8; 32]>::from(reference.finalize().into_bytes()),
                "sha256, key length {len}"
            );
            let mut reference = Hmac::<Sha1>::new_from_slice(&key).unwrap();
            reference.update(b"message");
            assert_eq!(
                hmac_sha1(&key, b"message"),
                <[u8; 20]>::from(reference.finalize().into_bytes()),
                "sha1, key length {len}"
            );
        }
    }

    /// RFC 4231 test case 2.
    #[test]
    fn rfc4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
