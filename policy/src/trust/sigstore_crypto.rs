//! A verification-only [`CryptoProvider`] for `sigstore-crypto` on the RustCrypto crates the
//! policy crate already builds (p256, p384, ed25519-dalek, rsa, sha2).
//!
//! Why: `sigstore-verify` does every hash and signature check through the provider installed
//! with `sigstore_verify::crypto::install_default_provider`; its only built-in one is
//! aws-lc-rs (C). With this backend the policy crate verifies every signature it judges
//! (cosign, Notary, Sigstore bundles) with the same RustCrypto primitives and builds without
//! a C toolchain. See docs/decisions/0008-sigstore-bundles.md for the measurements.
//!
//! Signature encodings are those the trait documents: ECDSA signatures are ASN.1 DER, keys
//! are the raw `subjectPublicKey` bit-string contents (SEC1 point, PKCS#1 `RSAPublicKey`,
//! 32-byte Ed25519 key). ML-DSA is refused as unsupported (no Sigstore deployment uses it).

use sha2::Digest as _;
use signature::Verifier as _;
use signature::hazmat::PrehashVerifier as _;
use sigstore_verify::crypto::{CryptoProvider, HashContext, SigningScheme};
use sigstore_verify::crypto::Error;
use sigstore_verify::types::HashAlgorithm;

/// The provider; install it with [`install`].
#[derive(Debug)]
pub struct RustCryptoProvider;

static PROVIDER: RustCryptoProvider = RustCryptoProvider;

/// Installs [`RustCryptoProvider`] as `sigstore-crypto`'s process-wide provider. Idempotent:
/// a provider already installed (this one, by an earlier call) is left in place.
pub fn install() {
    let _ = sigstore_verify::crypto::install_default_provider(&PROVIDER);
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl HashContext for Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        match *self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

fn bad(scheme: SigningScheme) -> Error {
    Error::Verification(format!("{} signature invalid", scheme.name()))
}

fn key_err(scheme: SigningScheme, e: impl std::fmt::Display) -> Error {
    Error::InvalidKey(format!("{} public key: {e}", scheme.name()))
}

fn digest(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlgorithm::Sha2384 => sha2::Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha2512 => sha2::Sha512::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    }
}

/// Verifies an ECDSA (DER) or RSA signature over a digest already computed with the scheme's
/// hash; Ed25519 and ML-DSA have no prehashed form.
fn verify_digest(scheme: SigningScheme, key: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), Error> {
    use SigningScheme as S;
    match scheme {
        S::EcdsaP256Sha256 | S::EcdsaP256Sha384 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| key_err(scheme, e))?;
            let sig = p256::ecdsa::DerSignature::from_bytes(sig).map_err(|_| bad(scheme))?;
            vk.verify_prehash(digest, &sig).map_err(|_| bad(scheme))
        }
        S::EcdsaP384Sha256 | S::EcdsaP384Sha384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| key_err(scheme, e))?;
            let sig = p384::ecdsa::DerSignature::from_bytes(sig).map_err(|_| bad(scheme))?;
            vk.verify_prehash(digest, &sig).map_err(|_| bad(scheme))
        }
        S::RsaPkcs1Sha256 | S::RsaPkcs1Sha384 | S::RsaPkcs1Sha512 | S::RsaPssSha256
        | S::RsaPssSha384 | S::RsaPssSha512 => {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|e| key_err(scheme, e))?;
            let res = match scheme {
                S::RsaPkcs1Sha256 => pk.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, sig),
                S::RsaPkcs1Sha384 => pk.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), digest, sig),
                S::RsaPkcs1Sha512 => pk.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), digest, sig),
                S::RsaPssSha256 => pk.verify(rsa::Pss::new::<sha2::Sha256>(), digest, sig),
                S::RsaPssSha384 => pk.verify(rsa::Pss::new::<sha2::Sha384>(), digest, sig),
                _ => pk.verify(rsa::Pss::new::<sha2::Sha512>(), digest, sig),
            };
            res.map_err(|_| bad(scheme))
        }
        S::Ed25519 | S::MlDsa44 | S::MlDsa65 | S::MlDsa87 => Err(Error::UnsupportedAlgorithm(
            format!("{} has no prehashed verification", scheme.name()),
        )),
        #[allow(unreachable_patterns)]
        _ => Err(Error::UnsupportedAlgorithm(scheme.name().to_owned())),
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>, Error> {
        Ok(Box::new(match algorithm {
            HashAlgorithm::Sha2256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha2384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha2512 => Hasher::Sha512(sha2::Sha512::new()),
            other => {
                return Err(Error::UnsupportedAlgorithm(format!(
                    "cannot compute {other} digests"
                )));
            }
        }))
    }

    fn verify_raw(
        &self,
        scheme: SigningScheme,
        key: &[u8],
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        match scheme {
            SigningScheme::Ed25519 => {
                let key: [u8; 32] = key.try_into().map_err(|_| key_err(scheme, "not 32 bytes"))?;
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|e| key_err(scheme, e))?;
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad(scheme))?;
                vk.verify(data, &sig).map_err(|_| bad(scheme))
            }
            SigningScheme::MlDsa44 | SigningScheme::MlDsa65 | SigningScheme::MlDsa87 => Err(
                Error::UnsupportedAlgorithm(format!("{} is not supported by forage", scheme.name())),
            ),
            _ => {
                let alg = scheme.hash_algorithm().ok_or_else(|| {
                    Error::UnsupportedAlgorithm(scheme.name().to_owned())
                })?;
                verify_digest(scheme, key, &digest(alg, data), sig)
            }
        }
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        key: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        let want = match scheme.hash_algorithm() {
            Some(HashAlgorithm::Sha2256) => 32,
            Some(HashAlgorithm::Sha2384) => 48,
            Some(HashAlgorithm::Sha2512) => 64,
            _ => {
                return Err(Error::UnsupportedAlgorithm(format!(
                    "{} does not support prehashed mode",
                    scheme.name()
                )));
            }
        };
        if digest.len() != want {
            return Err(Error::Verification(format!(
                "digest of {} bytes for {}",
                digest.len(),
                scheme.name()
            )));
        }
        verify_digest(scheme, key, digest, sig)
    }
}

#[cfg(test)]
mod tests {
    //! The vectors exercise ECDSA P-256/P-384 and Ed25519 through `sigstore-verify`; these
    //! cover the schemes no vector uses (RSA PKCS#1 v1.5 and PSS) and the refusals.
    use super::*;

    fn provider() -> &'static dyn CryptoProvider {
        &PROVIDER
    }

    #[test]
    fn ecdsa_ed25519_rsa_verify_and_refuse() {
        use signature::Signer as _;
        let msg = b"forage";
        let other = b"forage!";

        let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let sig: p256::ecdsa::DerSignature = sk.sign(msg);
        let pk = sk.verifying_key().to_encoded_point(false);
        let p = provider();
        p.verify_raw(SigningScheme::EcdsaP256Sha256, pk.as_bytes(), msg, sig.as_bytes())
            .unwrap();
        assert!(
            p.verify_raw(SigningScheme::EcdsaP256Sha256, pk.as_bytes(), other, sig.as_bytes())
                .is_err()
        );
        let digest = sha2::Sha256::digest(msg);
        p.verify_prehashed(SigningScheme::EcdsaP256Sha256, pk.as_bytes(), &digest, sig.as_bytes())
            .unwrap();
        // A digest of the wrong length for the scheme is refused, not truncated.
        assert!(
            p.verify_prehashed(SigningScheme::EcdsaP256Sha256, pk.as_bytes(), &digest[..31], sig.as_bytes())
                .is_err()
        );

        let ek = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let esig = ek.sign(msg).to_bytes();
        let epk = ek.verifying_key().to_bytes();
        p.verify_raw(SigningScheme::Ed25519, &epk, msg, &esig).unwrap();
        assert!(p.verify_raw(SigningScheme::Ed25519, &epk, other, &esig).is_err());
        assert!(p.verify_prehashed(SigningScheme::Ed25519, &epk, &[0; 32], &esig).is_err());

        use rand_core::OsRng;
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let rk = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let rpk = rk.to_public_key().to_pkcs1_der().unwrap();
        let d = sha2::Sha256::digest(msg);
        let v15 = rk.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &d).unwrap();
        p.verify_raw(SigningScheme::RsaPkcs1Sha256, rpk.as_bytes(), msg, &v15).unwrap();
        assert!(p.verify_raw(SigningScheme::RsaPkcs1Sha256, rpk.as_bytes(), other, &v15).is_err());
        let pss = rk
            .sign_with_rng(&mut OsRng, rsa::Pss::new::<sha2::Sha256>(), &d)
            .unwrap();
        p.verify_raw(SigningScheme::RsaPssSha256, rpk.as_bytes(), msg, &pss).unwrap();
        // PKCS#1 v1.5 and PSS are not interchangeable.
        assert!(p.verify_raw(SigningScheme::RsaPssSha256, rpk.as_bytes(), msg, &v15).is_err());

        assert!(matches!(
            p.verify_raw(SigningScheme::MlDsa44, &[0; 1312], msg, &[0; 2420]),
            Err(Error::UnsupportedAlgorithm(_))
        ));
        assert_eq!(p.sha256(msg).as_slice(), sha2::Sha256::digest(msg).as_slice());
        assert_eq!(p.sha384(msg).as_slice(), sha2::Sha384::digest(msg).as_slice());
    }
}
