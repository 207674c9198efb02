//! What each dynamic set answered when last looked at, so that a change of
//! answer can be told apart from a change of health: a target flip that
//! moves no set's answer (a backup tier going down, an override on a
//! member that is not answering) is no failover.
//!
//! Pure bookkeeping over views of published tables; whoever publishes (the
//! service) decides when to look.

use std::collections::HashMap;

use super::table::Table;

/// The answers last seen, by `NAME TYPE`.
#[derive(Debug, Default)]
pub struct Watch {
    answers: HashMap<String, Vec<String>>,
}

/// One set's answer moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Owner name.
    pub owner: String,
    /// Type mnemonic.
    pub rr_type: String,
    /// RDATA (presentation format) answered before, in answer order.
    pub from: Vec<String>,
    /// RDATA answered now.
    pub to: Vec<String>,
}

impl Watch {
    /// Looks at every set of a newly published `table`: the moves of sets
    /// that were seen before; sets new to it are only remembered, sets it
    /// no longer has are forgotten.
    pub fn published(&mut self, table: &Table) -> Vec<Moved> {
        let sets = table.dynamic_sets();
        let mut moved = Vec::new();
        let mut answers = HashMap::with_capacity(sets.len());
        for set in sets {
            if let Some(before) = self.answers.remove(&set.name)
                && before != set.answer
            {
                moved.push(Moved {
                    owner: set.owner,
                    rr_type: set.rr_type,
                    from: before,
                    to: set.answer.clone(),
                });
            }
            answers.insert(set.name, set.answer);
        }
        self.answers = answers;
        moved
    }

    /// Looks at the sets named (`NAME TYPE`) in `table`, the one published,
    /// after a target they use flipped: the moves among them.
    pub fn flipped(&mut self, table: &Table, record_sets: &[String]) -> Vec<Moved> {
        let mut moved = Vec::new();
        for set in table.dynamic_sets_where(|name| record_sets.iter().any(|r| r == name)) {
            let Some(before) = self.answers.get_mut(&set.name) else {
                // Not in the table last published (a reload is replacing
                // it): that publish remembers it.
                continue;
            };
            if *before != set.answer {
                moved.push(Moved {
                    owner: set.owner,
                    rr_type: set.rr_type,
                    from: std::mem::replace(before, set.answer.clone()),
                    to: set.answer,
                });
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::health::slot::Standing;
    use crate::health::{Registry, Slot};

    const ZONE: &str = "$ORIGIN w.test.\n$TTL 300\n\
        @ IN SOA ns hostmaster 1 7200 3600 1209600 60\n\
        @ IN NS ns\nns IN A 192.0.2.1\n\
        api 30 IN A 192.0.2.10 ; healthdns failover=1 check=c\n\
        api 30 IN A 192.0.2.11 ; healthdns failover=2 check=c\n\
        api 30 IN A 192.0.2.12 ; healthdns failover=3 check=c\n";

    fn table() -> (Table, Vec<Arc<Slot>>) {
        let config = crate::config::parse(
            std::path::Path::new("t.toml"),
            "[check.c]\ntype = \"tcp\"\nport = 1\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.zone");
        std::fs::write(&path, ZONE).unwrap();
        let zones = [crate::zone::load(&path, None).unwrap().zone];
        let health = Arc::new(Registry::default().renew(&zones, &config.checks));
        let slots = health.iter().map(|(_, slot)| slot.clone()).collect();
        (
            super::super::build_with(&zones, health, &Default::default()),
            slots,
        )
    }

    fn set(slot: &Slot, up: bool) {
        slot.publish(if up { Standing::Serving } else { Standing::Out });
    }

    #[test]
    fn only_a_change_of_answer_moves() {
        let (table, slots) = table();
        let sets = ["api.w.test. A".to_owned()];
        let mut watch = Watch::default();
        assert!(watch.published(&table).is_empty(), "first sight: no move");
        // The tier-3 backup goes down: health changed, the answer did not.
        set(&slots[2], false);
        assert!(watch.flipped(&table, &sets).is_empty());
        set(&slots[0], false);
        assert_eq!(
            watch.flipped(&table, &sets),
            [Moved {
                owner: "api.w.test.".into(),
                rr_type: "A".into(),
                from: vec!["192.0.2.10".into()],
                to: vec!["192.0.2.11".into()],
            }]
        );
        assert!(watch.flipped(&table, &sets).is_empty(), "counted once");
        assert!(
            watch.flipped(&table, &[]).is_empty(),
            "sets not named are not looked at"
        );
        set(&slots[0], true);
        let moved = watch.published(&table);
        assert_eq!(moved.len(), 1, "a publish looks at every set: {moved:?}");
        assert_eq!(moved[0].to, ["192.0.2.10"]);
        // Every member down: fails open to the primary (all-down=first).
        for slot in &slots {
            set(slot, false);
        }
        assert!(watch.flipped(&table, &sets).is_empty(), "still the primary");
        assert!(table.dynamic_sets()[0].failing_open);
    }
}
