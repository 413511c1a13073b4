//! Content digests (`algorithm:hex`), the identity of every blob, manifest and image.
//!
//! A digest parses as docker's reference library (with go-digest) accepts one: sha256,
//! sha384 or sha512, with exactly the lowercase hex length of that algorithm. Content is only
//! ever hashed and stored with sha256; a sha384 or sha512 digest is refused, with
//! [`DigestError::Unverifiable`], where content would have to be checked against it.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A digest algorithm docker accepts in a reference: the ones go-digest registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex digits: what every image, blob and manifest imagectl stores uses.
    Sha256,
    /// SHA-384, 96 hex digits.
    Sha384,
    /// SHA-512, 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// Every algorithm accepted, in the order error messages name them.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    /// The name as it appears before the `:` of a digest.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// How many hex digits a digest of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the accepted forms are, for error messages.
const ACCEPTED: &str = "sha256:<64 hex digits>, sha384:<96> or sha512:<128> (lowercase hex)";

/// Why a string is not a digest, or why a digest cannot be used to check content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// Not `algorithm:hex` at all, or hex that is not lowercase hex digits.
    #[error("invalid digest {0:?}: expected {ACCEPTED}")]
    Malformed(String),
    /// A well-formed algorithm name that is none of sha256, sha384 and sha512.
    #[error(
        "unsupported digest algorithm {algorithm:?} in {input:?}: only sha256, sha384 and sha512 are supported"
    )]
    UnsupportedAlgorithm {
        /// The algorithm named.
        algorithm: String,
        /// The whole input.
        input: String,
    },
    /// Hex digits, but not as many as the algorithm produces.
    #[error("invalid digest {input:?}: {algorithm} takes {expected} hex digits, not {actual}")]
    Length {
        /// The algorithm named.
        algorithm: Algorithm,
        /// How many hex digits it takes.
        expected: usize,
        /// How many were given.
        actual: usize,
        /// The whole input.
        input: String,
    },
    /// A valid digest whose algorithm imagectl does not hash content with, where content
    /// would have to be checked against it.
    #[error(
        "{digest}: {algorithm} content cannot be verified by imagectl yet (it verifies sha256 only)"
    )]
    Unverifiable {
        /// The digest, printed.
        digest: String,
        /// Its algorithm.
        algorithm: Algorithm,
    },
}

/// A content digest. Every digest imagectl computes is sha256; sha384 and sha512 digests
/// parse (docker accepts them in references) but [`Digest::verifiable`] refuses them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// From a finished sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(hash),
        }
    }

    /// The lowercase hex digits (64 for sha256), without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as docker shows image IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether imagectl can check content against this digest (only sha256): call it where
    /// content would be fetched, stored or verified by a digest that came from outside.
    pub fn verifiable(&self) -> Result<(), DigestError> {
        match self.algorithm {
            Algorithm::Sha256 => Ok(()),
            algorithm => Err(DigestError::Unverifiable {
                digest: self.to_string(),
                algorithm,
            }),
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || DigestError::Malformed(s.to_string());
        let (name, hex) = s.split_once(':').ok_or_else(malformed)?;
        let Some(algorithm) = Algorithm::from_name(name) else {
            // go-digest's grammar for an algorithm it does not know: refused as unsupported
            // when it looks like one, as malformed otherwise.
            let looks_like_one = !name.is_empty()
                && name.split(['+', '.', '_', '-']).all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            return Err(if looks_like_one {
                DigestError::UnsupportedAlgorithm {
                    algorithm: name.to_string(),
                    input: s.to_string(),
                }
            } else {
                malformed()
            });
        };
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || hex.is_empty()
        {
            return Err(malformed());
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::Length {
                algorithm,
                expected: algorithm.hex_len(),
                actual: hex.len(),
                input: s.to_string(),
            });
        }
        Ok(Self {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256 with a byte count: what every streamed blob passes through, so
/// content is verified as it is written and never needs a second read.
#[derive(Default, Clone)]
pub struct Sha256Writer {
    hasher: Sha256,
    len: u64,
}

impl Sha256Writer {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What parsing a digest string should give.
    enum Want {
        /// Parses, and prints back unchanged.
        Ok(Algorithm),
        Malformed,
        Unsupported,
        Length,
    }

    /// `n` copies of `c`.
    fn hex(c: char, n: usize) -> String {
        c.to_string().repeat(n)
    }

    /// The sha256 of nothing parses, prints back and equals `Digest::of(b"")`.
    #[test]
    fn parses_and_prints() {
        let s = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.verifiable(), Ok(()));
    }

    /// Each algorithm docker registers parses at exactly its hex length and no other; other
    /// algorithms, upper-case or non-hex digits and missing parts are refused.
    #[test]
    fn accepts_what_go_digest_accepts() {
        use Want::*;
        let cases: Vec<(String, Want)> = vec![
            (format!("sha256:{}", hex('f', 64)), Ok(Algorithm::Sha256)),
            (format!("sha384:{}", hex('f', 96)), Ok(Algorithm::Sha384)),
            (format!("sha512:{}", hex('f', 128)), Ok(Algorithm::Sha512)),
            (format!("sha256:{}", hex('f', 63)), Length),
            (format!("sha256:{}", hex('f', 65)), Length),
            (format!("sha384:{}", hex('f', 64)), Length),
            (format!("sha384:{}", hex('f', 97)), Length),
            (format!("sha512:{}", hex('f', 64)), Length),
            (format!("sha512:{}", hex('f', 127)), Length),
            (format!("sha512:{}", hex('f', 129)), Length),
            // reference_test.go: a short sha256 is ErrDigestInvalidLength.
            (format!("sha256:{}", hex('f', 34)), Length),
            ("sha512:abcd".into(), Length),
            ("sha256:e3b0".into(), Length),
            // reference_test.go: an unknown algorithm is ErrDigestUnsupported.
            (format!("invaliddigest:{}", hex('f', 64)), Unsupported),
            (format!("sha1:{}", hex('f', 40)), Unsupported),
            (format!("sha256+b64:{}", hex('f', 64)), Unsupported),
            (format!("SHA256:{}", hex('f', 64)), Malformed),
            (format!("sha256:{}", hex('F', 64)), Malformed),
            (format!("sha512:{}", hex('A', 128)), Malformed),
            (format!("sha256:g{}", hex('f', 63)), Malformed),
            (format!(":{}", hex('f', 64)), Malformed),
            (hex('f', 64), Malformed),
            ("".into(), Malformed),
            ("sha256".into(), Malformed),
            ("sha256:".into(), Malformed),
            ("sha512:".into(), Malformed),
        ];
        for (input, want) in cases {
            let got = input.parse::<Digest>();
            match (want, &got) {
                (Ok(alg), std::result::Result::Ok(d)) => {
                    assert_eq!(d.algorithm(), alg, "{input}");
                    assert_eq!(d.to_string(), input);
                    assert_eq!(d.hex().len(), alg.hex_len(), "{input}");
                }
                (Malformed, Err(DigestError::Malformed(_)))
                | (Unsupported, Err(DigestError::UnsupportedAlgorithm { .. }))
                | (Length, Err(DigestError::Length { .. })) => {}
                _ => panic!("{input:?}: unexpected {got:?}"),
            }
        }
    }

    /// An unknown algorithm's message names the three that are accepted; a wrong length
    /// says how many digits the algorithm takes.
    #[test]
    fn errors_name_the_rule() {
        let e = format!("md5:{}", hex('f', 32))
            .parse::<Digest>()
            .unwrap_err();
        assert!(e.to_string().contains("sha256, sha384 and sha512"), "{e}");
        let e = "sha512:abcd".parse::<Digest>().unwrap_err();
        assert!(
            e.to_string().contains("sha512 takes 128 hex digits, not 4"),
            "{e}"
        );
    }

    /// Only sha256 is verifiable: sha384 and sha512 digests say so in one line naming them.
    #[test]
    fn only_sha256_is_verifiable() {
        let d: Digest = format!("sha512:{}", hex('f', 128)).parse().unwrap();
        let e = d.verifiable().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "sha512:{}: sha512 content cannot be verified by imagectl yet (it verifies sha256 only)",
                hex('f', 128)
            )
        );
        let d: Digest = format!("sha384:{}", hex('0', 96)).parse().unwrap();
        assert!(matches!(
            d.verifiable(),
            Err(DigestError::Unverifiable {
                algorithm: Algorithm::Sha384,
                ..
            })
        ));
    }

    /// Digests of different algorithms never compare equal, even with the same leading hex.
    #[test]
    fn algorithms_are_part_of_identity() {
        let a: Digest = format!("sha256:{}", hex('a', 64)).parse().unwrap();
        let b: Digest = format!("sha512:{}", hex('a', 128)).parse().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.short(), b.short());
    }

    /// Streaming into `Sha256Writer` gives the same digest as hashing all at once.
    #[test]
    fn streaming_equals_oneshot() {
        let mut w = Sha256Writer::default();
        w.update(b"hello ");
        w.update(b"world");
        assert_eq!(w.len(), 11);
        assert_eq!(w.finish(), Digest::of(b"hello world"));
    }
}
