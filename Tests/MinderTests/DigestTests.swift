import MinderControl
import Testing

/// The hand-written digests against the standard's test vectors, across block boundaries.
@Suite struct DigestTests {
    @Test func sha1() {
        #expect(Digest.hex(Digest.sha1([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Digest.hex(Digest.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digest.hex(Digest.sha1(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(Digest.hex(Digest.sha1(Array(repeating: UInt8(ascii: "a"), count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(Digest.hex(Digest.sha1(Array("secret".utf8))) == "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4")
    }

    @Test func sha256() {
        #expect(Digest.hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.hex(Digest.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Digest.hex(Digest.sha256(Array(repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// %XX decoding as Foundation's removingPercentEncoding: nil for a broken escape or bytes that are not UTF-8.
    @Test func percentDecoding() {
        #expect(percentDecoded("g%3Aa%20b%2F%C3%A9") == "g:a b/é")
        #expect(percentDecoded("plain") == "plain")
        #expect(percentDecoded("%") == nil && percentDecoded("%4") == nil && percentDecoded("%zz") == nil)
        #expect(percentDecoded("%FF") == nil)
        #expect(percentDecoded(urlQueryEscaped("<img\tsrc=x>")) == "<img\tsrc=x>")
    }
}
