//! RDATA made of small numbers and a blob: DS/CDS, SSHFP, TLSA, and CAA.

use super::RdataError;
use super::fields::Fields;

/// DS, CDS (RFC 4034 §5.3): key tag, algorithm, digest type, hex digest.
pub(super) fn ds(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("key tag")?.to_be_bytes().to_vec();
    out.push(f.u8("algorithm")?);
    out.push(f.u8("digest type")?);
    out.extend(f.hex_rest("digest")?);
    Ok(out)
}

/// SSHFP (RFC 4255): algorithm, fingerprint type, hex fingerprint.
pub(super) fn sshfp(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("algorithm")?, f.u8("fingerprint type")?];
    out.extend(f.hex_rest("fingerprint")?);
    Ok(out)
}

/// TLSA (RFC 6698): usage, selector, matching type, hex data.
pub(super) fn tlsa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("usage")?, f.u8("selector")?, f.u8("matching type")?];
    out.extend(f.hex_rest("certificate data")?);
    Ok(out)
}

/// CAA (RFC 8659): flags, tag (letters and digits), value (rest of the bytes).
pub(super) fn caa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let flags = f.u8("flags")?;
    let tag_token = f.next("tag")?;
    let tag = &tag_token.raw;
    if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return Err(f.bad("tag", tag_token, "must be 1-255 letters and digits"));
    }
    let value = f.bytes("value")?;
    let mut out = vec![flags, tag.len() as u8];
    out.extend_from_slice(tag);
    out.extend(value);
    Ok(out)
}
