//! Just enough DER to find an RSA modulus length.
//!
//! Hand-written rather than aws-lc-rs because aws-lc-rs refuses RSA public keys under 2048 bits
//! (`PublicEncryptingKey::from_der` → `KeyRejected::too_small`), and a linter must still say
//! "this key is 1024 bits" rather than "undecodable". It also keeps the parser pure and
//! fuzzable. Only definite lengths are read (DER forbids the others, X.690 §10.1).

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1, rsaEncryption (RFC 8017 Appendix C).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112, id-Ed25519 (RFC 8410 §3).
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads one TLV; returns (tag, contents, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER")?;
    let (&first, rest) = rest.split_first().ok_or("truncated DER")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err("unsupported DER length");
        }
        let bytes = rest.get(..count).ok_or("truncated DER")?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest.get(count..).ok_or("truncated DER")?)
    };
    let contents = rest.get(..len).ok_or("truncated DER")?;
    let rest = rest.get(len..).ok_or("truncated DER")?;
    Ok((tag, contents, rest))
}

fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), &'static str> {
    let (tag, contents, rest) = tlv(input)?;
    if tag == want {
        Ok((contents, rest))
    } else {
        Err("unexpected DER structure")
    }
}

/// The RSA modulus length in bits, from a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, what
/// RFC 6376 §3.6.1 specifies) or a bare PKCS#1 RSAPublicKey (RFC 8017 §A.1.1, which some
/// domains publish and many verifiers accept).
pub(super) fn rsa_modulus_bits(der: &[u8]) -> Result<u32, &'static str> {
    let (outer, trailing) = expect(der, SEQUENCE)?;
    if !trailing.is_empty() {
        return Err("data after the key");
    }
    match outer.first() {
        Some(&SEQUENCE) => {
            let (algorithm, rest) = expect(outer, SEQUENCE)?;
            let (oid, _params) = expect(algorithm, OID)?;
            if oid == ED25519 {
                return Err("the key is an Ed25519 key, but k= says rsa");
            }
            if oid != RSA_ENCRYPTION {
                return Err("the key is not an RSA key");
            }
            let (bits, _) = expect(rest, BIT_STRING)?;
            let (&unused, key) = bits.split_first().ok_or("empty key bit string")?;
            if unused != 0 {
                return Err("malformed key bit string");
            }
            let (pkcs1, _) = expect(key, SEQUENCE)?;
            modulus_bits(pkcs1)
        }
        Some(&INTEGER) => modulus_bits(outer),
        _ => Err("neither SubjectPublicKeyInfo nor RSAPublicKey"),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`, contents only.
fn modulus_bits(pkcs1: &[u8]) -> Result<u32, &'static str> {
    let (modulus, rest) = expect(pkcs1, INTEGER)?;
    let (exponent, _) = expect(rest, INTEGER)?;
    if exponent.is_empty() {
        return Err("empty public exponent");
    }
    // A positive INTEGER may start with one 0x00 byte; skip all leading zeros to be tolerant.
    let significant: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(i) => modulus.get(i..).unwrap_or_default(),
        None => return Err("zero modulus"),
    };
    let first = significant.first().copied().unwrap_or(0);
    let bytes = u32::try_from(significant.len()).map_err(|_| "modulus too long")?;
    let bits = bytes.checked_mul(8).ok_or("modulus too long")?;
    Ok(bits - first.leading_zeros())
}
