//! Read-only views of a table for the API, the status page and metrics:
//! off the answer path, so they allocate freely.

use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use super::table::Table;
use crate::zone::Policy;

/// A dynamic record set as an operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetView {
    /// `NAME TYPE`.
    #[serde(skip)]
    pub name: String,
    /// Owner name.
    #[serde(rename = "name")]
    pub owner: String,
    /// Type mnemonic.
    #[serde(rename = "type")]
    pub rr_type: String,
    /// `failover`, `multivalue` or `weighted`.
    pub policy: &'static str,
    /// TTL of the answer.
    pub ttl: u32,
    /// The members.
    pub members: Vec<MemberView>,
    /// What a query gets now (multivalue and weighted: the candidates).
    pub answer: Vec<String>,
}

/// One member of a dynamic set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberView {
    /// RDATA in presentation format.
    pub rdata: String,
    /// The target deciding its health; `None` when unchecked.
    pub target: Option<String>,
    /// Tier (failover) or weight (weighted).
    pub rank: Option<u32>,
    /// Whether answers may use it now.
    pub serving: bool,
}

impl Table {
    /// Every dynamic set, sorted by name and type.
    pub fn dynamic_sets(&self) -> Vec<SetView> {
        let mut sets = Vec::new();
        for zone in self.zones.values() {
            for (node, set) in zone.dynamic_sets() {
                let Some(dynamic) = set.dynamic() else {
                    continue;
                };
                let rr_type = crate::zone::rdata::type_name(set.rr_type());
                let owner = crate::name::Name::from_wire(node.name())
                    .map_or_else(|_| String::from("?"), |name| name.to_string());
                let members = dynamic
                    .members
                    .iter()
                    .map(|member| MemberView {
                        rdata: rdata_text(set.rr_type(), set.rdata(member.rdata as usize)),
                        target: member
                            .target
                            .and_then(|t| self.targets().get(t as usize))
                            .map(|target| target.key.to_string()),
                        rank: (dynamic.policy != Policy::Multivalue).then_some(member.rank),
                        serving: member
                            .target
                            .is_none_or(|t| self.board.standing(t).serving()),
                    })
                    .collect();
                let answer = dynamic
                    .candidates(&self.board)
                    .iter()
                    .map(|&i| rdata_text(set.rr_type(), set.rdata(i as usize)))
                    .collect();
                sets.push(SetView {
                    name: format!("{owner} {rr_type}"),
                    owner,
                    rr_type,
                    policy: dynamic.policy.name(),
                    ttl: dynamic.ttl,
                    members,
                    answer,
                });
            }
        }
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        sets
    }
}

/// RDATA in presentation format (hickory-proto decodes it), hex if it will
/// not decode.
pub fn rdata_text(rr_type: u16, rdata: &[u8]) -> String {
    let mut decoder = BinDecoder::new(rdata);
    match RData::read(
        &mut decoder,
        RecordType::from(rr_type),
        Restrict::new(rdata.len() as u16),
    ) {
        Ok(data) if rr_type != crate::wire::rtype::DNAME => data.to_string(),
        _ => crate::name::Name::from_wire(rdata)
            .map(|name| name.to_string())
            .unwrap_or_else(|_| rdata.iter().map(|b| format!("{b:02x}")).collect()),
    }
}
