//! Which addresses a fetch may never reach unless an allow rule says otherwise.
//!
//! The rule of thumb is "publicly routable unicast only". IPv6 forms that carry an IPv4
//! address (mapped, compatible, translated, 6to4, NAT64) are judged by the IPv4 address
//! they carry, because a dual-stack socket or a translator on the path delivers them
//! there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a permitted fetch destination, or `None` when it is publicly routable.
pub fn denied_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

fn denied_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified",
        (10, _, _) => "private",
        (100, 64..=127, _) => "shared (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (255, 255, 255) if ip == Ipv4Addr::BROADCAST => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(reason)
}

fn denied_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = embedded_v4(ip) {
        return denied_v4(v4);
    }
    let reason = match s {
        // Local-use NAT64 (RFC 8215) translates into networks the operator chose, which
        // are typically internal: refuse whatever is embedded.
        [0x64, 0xff9b, 1, ..] => "NAT64 local-use",
        [0x100, 0, 0, 0, ..] => "discard-only",
        // Teredo tunnels to an arbitrary IPv4 host through a relay; refuse outright.
        [0x2001, 0, ..] => "Teredo",
        [0x2001, 2, 0, ..] => "benchmarking",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x3fff, x, ..] if x & 0xf000 == 0 => "documentation",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique-local",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        // Everything outside 2000::/3 is unassigned or special-purpose.
        [x, ..] if x & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address an IPv6 address stands for, for the forms that embed one at a fixed
/// place. `::` and `::1` are handled before this is asked.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => low(hi, lo),
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        [0, 0, 0, 0, 0, 0, hi, lo] => low(hi, lo),
        // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => low(hi, lo),
        // Well-known NAT64 prefix 64:ff9b::/96
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => low(hi, lo),
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => low(hi, lo),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        denied_reason(s.parse().expect("test address parses"))
    }

    #[track_caller]
    fn denied(s: &str, want: &str) {
        assert_eq!(reason(s), Some(want), "{s}");
    }

    #[track_caller]
    fn allowed(s: &str) {
        assert_eq!(reason(s), None, "{s}");
    }

    #[test]
    fn ipv4_special_ranges() {
        denied("0.0.0.0", "unspecified");
        denied("0.1.2.3", "unspecified");
        denied("10.0.0.1", "private");
        denied("10.255.255.255", "private");
        denied("100.64.0.1", "shared (CGNAT)");
        denied("100.127.255.255", "shared (CGNAT)");
        denied("127.0.0.1", "loopback");
        denied("127.255.0.9", "loopback");
        denied("169.254.169.254", "link-local");
        denied("169.254.0.1", "link-local");
        denied("172.16.0.1", "private");
        denied("172.31.255.255", "private");
        denied("192.0.0.8", "IETF protocol");
        denied("192.0.2.1", "documentation");
        denied("198.51.100.7", "documentation");
        denied("203.0.113.9", "documentation");
        denied("192.88.99.1", "6to4 relay");
        denied("192.168.1.1", "private");
        denied("198.18.0.1", "benchmarking");
        denied("198.19.255.255", "benchmarking");
        denied("224.0.0.1", "multicast");
        denied("239.255.255.250", "multicast");
        denied("240.0.0.1", "reserved");
        denied("255.255.255.254", "reserved");
        denied("255.255.255.255", "broadcast");
    }

    #[test]
    fn ipv4_neighbours_of_special_ranges_are_public() {
        allowed("8.8.8.8");
        allowed("1.1.1.1");
        allowed("9.255.255.255");
        allowed("11.0.0.0");
        allowed("100.63.255.255");
        allowed("100.128.0.0");
        allowed("126.255.255.255");
        allowed("128.0.0.0");
        allowed("169.253.255.255");
        allowed("172.15.255.255");
        allowed("172.32.0.0");
        allowed("192.0.1.1");
        allowed("192.167.255.255");
        allowed("192.169.0.0");
        allowed("198.17.255.255");
        allowed("198.20.0.0");
        allowed("223.255.255.255");
    }

    #[test]
    fn ipv6_special_ranges() {
        denied("::", "unspecified");
        denied("::1", "loopback");
        denied("fc00::1", "unique-local");
        denied("fd12:3456::1", "unique-local");
        denied("fe80::1", "link-local");
        denied("febf::1", "link-local");
        denied("fec0::1", "site-local");
        denied("feff::1", "site-local");
        denied("ff02::1", "multicast");
        denied("ff0e::1", "multicast");
        denied("2001::1", "Teredo");
        denied("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo");
        denied("2001:db8::1", "documentation");
        denied("3fff::1", "documentation");
        denied("2001:2::1", "benchmarking");
        denied("100::1", "discard-only");
        denied("64:ff9b:1::808:808", "NAT64 local-use");
        denied("4000::1", "reserved");
        denied("1::1", "reserved");
    }

    #[test]
    fn ipv6_embedded_ipv4_is_judged_by_the_ipv4() {
        // IPv4-mapped
        denied("::ffff:127.0.0.1", "loopback");
        denied("::ffff:10.1.2.3", "private");
        denied("::ffff:169.254.169.254", "link-local");
        denied("::ffff:0.0.0.0", "unspecified");
        allowed("::ffff:8.8.8.8");
        // IPv4-compatible
        denied("::127.0.0.1", "loopback");
        denied("::192.168.0.1", "private");
        denied("::0.0.0.2", "unspecified");
        allowed("::8.8.8.8");
        // IPv4-translated (SIIT)
        denied("::ffff:0:127.0.0.1", "loopback");
        denied("::ffff:0:172.16.0.1", "private");
        // 6to4
        denied("2002:7f00:1::", "loopback");
        denied("2002:7f00:0001:1234::1", "loopback");
        denied("2002:c0a8:0101::1", "private");
        denied("2002:a9fe:a9fe::", "link-local");
        allowed("2002:808:808::1");
        // NAT64 well-known prefix
        denied("64:ff9b::127.0.0.1", "loopback");
        denied("64:ff9b::10.0.0.1", "private");
        denied("64:ff9b::169.254.169.254", "link-local");
        allowed("64:ff9b::8.8.8.8");
    }

    #[test]
    fn public_ipv6_is_allowed() {
        allowed("2606:4700::1111");
        allowed("2606:4700:4700::1111");
        allowed("2001:4860:4860::8888");
        allowed("2a00:1450:4001:80b::200e");
        allowed("3ffe::1");
        allowed("3fff:1000::1");
    }
}
