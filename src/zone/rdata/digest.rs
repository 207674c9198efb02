//! RDATA made of small numbers and a blob: DS and its kin, SSHFP, TLSA and
//! SMIMEA, ZONEMD, CAA, and the bare base64 blobs.

use super::RdataError;
use super::fields::Fields;

/// DS, CDS, TA, DLV (RFC 4034 §5.3): key tag, algorithm (number or
/// mnemonic), digest type, hex digest.
pub(super) fn ds(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("key tag")?.to_be_bytes().to_vec();
    out.push(f.algorithm("algorithm")?);
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

/// TLSA (RFC 6698), SMIMEA (RFC 8162): usage, selector, matching type, hex
/// data.
pub(super) fn tlsa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("usage")?, f.u8("selector")?, f.u8("matching type")?];
    out.extend(f.hex_rest("certificate data")?);
    Ok(out)
}

/// ZONEMD (RFC 8976): serial, scheme, hash algorithm, hex digest.
pub(super) fn zonemd(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u32("serial")?.to_be_bytes().to_vec();
    out.push(f.u8("scheme")?);
    out.push(f.u8("hash algorithm")?);
    out.extend(f.hex_rest("digest")?);
    Ok(out)
}

/// DHCID (RFC 4701), OPENPGPKEY (RFC 7929), HHIT and BRID (DRIP): the
/// whole RDATA in base64, possibly split by blanks.
pub(super) fn base64_blob(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let out = f.base64_rest("data")?;
    if out.is_empty() {
        return Err(f.bad_last("data", "is empty"));
    }
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
