//! The running service: the published answer table and the probe loops that
//! keep its board current, replaced together on reload.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::answer::Table;
use crate::health::checker;
use crate::server::SharedTable;

/// The table being served and the loops probing its targets.
pub struct Service {
    table: SharedTable,
    probes: Probes,
}

struct Probes {
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Service {
    /// Publishes `table` and starts probing its targets. Must run inside the
    /// tokio runtime.
    pub fn start(table: Table, shutdown: &CancellationToken) -> Result<Service, reqwest::Error> {
        let probes = Probes::start(&table, shutdown)?;
        Ok(Service {
            table: Arc::new(ArcSwap::from_pointee(table)),
            probes,
        })
    }

    /// The published table, for the sockets.
    pub fn table(&self) -> &SharedTable {
        &self.table
    }

    /// Replaces the table. Targets that exist in both keep their state (a
    /// dead server stays out); new ones start from their check's `initial`;
    /// loops of removed targets stop.
    pub fn replace(
        &mut self,
        new: Table,
        shutdown: &CancellationToken,
    ) -> Result<(), reqwest::Error> {
        let old = self.table.load();
        let old_index: HashMap<_, _> = old
            .targets()
            .iter()
            .enumerate()
            .map(|(i, t)| (&t.key, i as u32))
            .collect();
        for (i, target) in new.targets().iter().enumerate() {
            if let Some(&j) = old_index.get(&target.key) {
                new.board().set(i as u32, old.board().serving(j));
            }
        }
        let probes = Probes::start(&new, shutdown)?;
        self.table.store(Arc::new(new));
        std::mem::replace(&mut self.probes, probes).stop();
        Ok(())
    }

    /// Stops the probe loops.
    pub async fn stop(self) {
        self.probes.stop.cancel();
        let mut tasks = self.probes.tasks;
        while tasks.join_next().await.is_some() {}
    }
}

impl Probes {
    fn start(table: &Table, shutdown: &CancellationToken) -> Result<Probes, reqwest::Error> {
        let stop = shutdown.child_token();
        let tasks = checker::spawn(table.targets(), table.board().clone(), stop.clone())?;
        Ok(Probes { stop, tasks })
    }

    fn stop(self) {
        self.stop.cancel();
        // The tasks end at their next await; dropping the set aborts any
        // that do not.
        drop(self.tasks);
    }
}
