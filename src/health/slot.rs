//! One target's shared state: what answers read, what operators see and
//! what they asked for.
//!
//! A slot outlives answer tables: a reload hands surviving targets their old
//! slot, so state, counters and overrides carry over.
//!
//! - `standing` is the only thing the answer path reads: an atomic, written
//!   by the target's probe loop alone (one writer), read with `Relaxed`
//!   because nothing else is published through it. One atomic rather than
//!   a flag per input, so that a query sees a target's standing whole.
//! - `detail` (probe results, counters, last transition) is written by the
//!   loop and read by the API: a `Mutex`, never touched by queries.
//! - `control` (override, hold release, a drill's simulated failure) is
//!   written by the API and applied by the loop, which `wake` prompts at
//!   once for an override or a release. A simulated failure is applied at
//!   the loop's next scheduled probe, as a real failure would be seen, and
//!   is never saved: a restart forgets it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::sync::Notify;

use super::Transition;
use super::state::{Health, State};

/// Shared state of one target.
#[derive(Debug)]
pub struct Slot {
    /// A [`Standing`] as its `u8`.
    standing: AtomicU8,
    detail: Mutex<Detail>,
    control: Mutex<Control>,
    wake: Notify,
    /// Probes that passed / failed, for metrics.
    pub probes_ok: AtomicU64,
    /// Probes that failed.
    pub probes_failed: AtomicU64,
    /// Probes that could not run for want of a local resource: neither
    /// passed nor failed.
    pub probes_local: AtomicU64,
}

/// What the checks and the loop know of a target.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The rise/fall machine: what this instance's checks say.
    pub state: State,
    /// What answers follow: the cluster's verdict when there is one, else
    /// the checks' state.
    pub effective: Health,
    /// Held out after a fall by manual failback.
    pub held: bool,
    /// The last probe.
    pub last_probe: Option<Probe>,
    /// The last transition the checks made.
    pub last_transition: Option<Transition>,
}

/// One probe's result.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Passed or not.
    pub ok: bool,
    /// Why.
    pub reason: String,
    /// How long it took.
    pub latency: std::time::Duration,
    /// When it finished.
    pub time: SystemTime,
}

/// Whether answers may use a target, as the answer path reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Standing {
    /// Answers use it.
    Serving = 0,
    /// Up, but held out by manual failback: answers use it only when no
    /// member of its set serves, before any member that is down.
    Held = 1,
    /// Down, or drained by an operator.
    Out = 2,
}

impl Standing {
    /// Whether answers use it while another member of its set serves.
    #[inline]
    pub fn serving(self) -> bool {
        self == Standing::Serving
    }

    #[inline]
    fn from_u8(value: u8) -> Standing {
        match value {
            0 => Standing::Serving,
            1 => Standing::Held,
            _ => Standing::Out,
        }
    }
}

/// What an operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    /// Forced up or down.
    pub state: Health,
    /// When it lapses back to automatic; `None` = until changed.
    pub until: Option<SystemTime>,
}

/// The health several instances agreed on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Up or down.
    pub health: Health,
    /// How the instances voted, e.g. `cluster: 2 of 3 instances see it down`.
    pub reason: String,
}

impl Override {
    /// What an operator's `down`, `up` or `auto` (back to the checks:
    /// `Some(None)`) asks for, lapsing at `until`; `None` for another word.
    pub fn from_word(word: &str, until: Option<SystemTime>) -> Option<Option<Override>> {
        let state = match word {
            "down" => Health::Down,
            "up" => Health::Up,
            "auto" => return Some(None),
            _ => return None,
        };
        Some(Some(Override { state, until }))
    }
}

#[derive(Debug, Default)]
struct Control {
    forced: Option<Override>,
    /// Set by an operator to release a manual-failback hold.
    release: bool,
    /// The cluster's verdict; `None`: follow this instance's checks.
    verdict: Option<Verdict>,
    /// A drill's simulated failure, until this lease ends: each probe due
    /// meanwhile fails without running.
    simulated: Option<SystemTime>,
}

impl Slot {
    /// A slot starting in `initial`.
    pub fn new(initial: Health) -> Slot {
        Slot {
            standing: AtomicU8::new(standing(initial, false, None) as u8),
            detail: Mutex::new(Detail {
                state: State::new(initial),
                effective: initial,
                held: false,
                last_probe: None,
                last_transition: None,
            }),
            control: Mutex::new(Control::default()),
            wake: Notify::new(),
            probes_ok: AtomicU64::new(0),
            probes_failed: AtomicU64::new(0),
            probes_local: AtomicU64::new(0),
        }
    }

    /// Whether and how answers may use this target: the hot path.
    #[inline]
    pub fn standing(&self) -> Standing {
        Standing::from_u8(self.standing.load(Ordering::Relaxed))
    }

    /// Whether answers use this target while another member of its set
    /// serves.
    #[inline]
    pub fn serving(&self) -> bool {
        self.standing().serving()
    }

    /// Publishes the standing (the probe loop only, or before it starts).
    pub fn publish(&self, standing: Standing) {
        self.standing.store(standing as u8, Ordering::Relaxed);
    }

    /// Puts back what an operator asked for before a restart: `forced`
    /// and the manual-failback hold, published at once. Only before the
    /// target's probe loop starts, which then goes on from here; unlike
    /// [`Slot::set_override`], releases no hold.
    pub fn restore(&self, forced: Option<Override>, held: bool) {
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forced = forced;
        let health = self.update(|detail| {
            detail.held = held;
            detail.effective
        });
        self.publish(standing(health, held, forced));
    }

    /// A copy of the detail.
    pub fn detail(&self) -> Detail {
        self.detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether manual failback holds it out.
    pub fn held(&self) -> bool {
        self.detail.lock().unwrap_or_else(|e| e.into_inner()).held
    }

    /// Changes the detail (the probe loop only).
    pub fn update<R>(&self, change: impl FnOnce(&mut Detail) -> R) -> R {
        change(&mut self.detail.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The override in force at `now` (an expired one is gone).
    pub fn forced(&self, now: SystemTime) -> Option<Override> {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        control
            .forced
            .filter(|o| o.until.is_none_or(|until| until > now))
    }

    /// Sets (`Some`) or clears (`None`, "auto") the override; clearing or
    /// forcing up also releases a manual-failback hold. Wakes the loop.
    pub fn set_override(&self, forced: Option<Override>) {
        {
            let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
            control.release |= forced.is_none_or(|o| o.state == Health::Up);
            control.forced = forced;
        }
        self.wake.notify_one();
    }

    /// The cluster's verdict in force, if any.
    pub fn verdict(&self) -> Option<Verdict> {
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .verdict
            .clone()
    }

    /// Clears the override without releasing a manual-failback hold, as
    /// when a copy kept locally turns out to be stale; wakes the loop.
    pub(crate) fn withdraw_override(&self) {
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forced = None;
        self.wake.notify_one();
    }

    /// Sets the cluster's verdict (`None`: back to this instance's checks);
    /// wakes the loop when it changed.
    pub(crate) fn set_verdict(&self, verdict: Option<Verdict>) {
        {
            let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
            if control.verdict.as_ref().map(|v| v.health) == verdict.as_ref().map(|v| v.health) {
                control.verdict = verdict;
                return;
            }
            control.verdict = verdict;
        }
        self.wake.notify_one();
    }

    /// Starts or renews (`Some(until)`) or ends (`None`) a simulated
    /// failure for a drill: until `until`, every probe of this target
    /// that comes due fails, with the class `drill`, without running.
    /// Returns the lease it replaced, if one was in force at `now`.
    pub fn set_simulation(&self, until: Option<SystemTime>, now: SystemTime) -> Option<SystemTime> {
        let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut control.simulated, until).filter(|&until| until > now)
    }

    /// When the simulated failure in force at `now` ends, if there is one
    /// (a lapsed lease is none).
    pub fn simulated(&self, now: SystemTime) -> Option<SystemTime> {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        control.simulated.filter(|&until| until > now)
    }

    /// Takes a pending hold release (the probe loop only).
    pub fn take_release(&self) -> bool {
        std::mem::take(
            &mut self
                .control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release,
        )
    }

    /// Resolves when an operator changed the control.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// The standing that health, hold and override give: an override decides
/// when there is one; otherwise an up target serves unless held.
pub fn standing(health: Health, held: bool, forced: Option<Override>) -> Standing {
    match (forced.map(|o| o.state), health, held) {
        (Some(Health::Up), _, _) | (None, Health::Up, false) => Standing::Serving,
        (None, Health::Up, true) => Standing::Held,
        (Some(Health::Down), _, _) | (None, Health::Down, _) => Standing::Out,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn overrides_win_and_expire() {
        let slot = Slot::new(Health::Up);
        let now = SystemTime::now();
        slot.set_override(Some(Override {
            state: Health::Down,
            until: Some(now + Duration::from_secs(60)),
        }));
        assert_eq!(slot.forced(now).map(|o| o.state), Some(Health::Down));
        assert_eq!(slot.forced(now + Duration::from_secs(61)), None, "expired");
        assert!(!slot.take_release(), "forcing down releases nothing");
        slot.set_override(None);
        assert!(slot.take_release(), "auto releases a hold");
        assert!(!slot.take_release(), "once");
    }

    #[test]
    fn a_simulation_lapses_with_its_lease_and_touches_nothing_else() {
        let slot = Slot::new(Health::Up);
        let now = SystemTime::now();
        let lease = now + Duration::from_secs(20);
        assert_eq!(slot.set_simulation(Some(lease), now), None);
        assert_eq!(slot.simulated(now), Some(lease));
        assert_eq!(slot.simulated(lease), None, "lapsed at the lease's end");
        let renewed = lease + Duration::from_secs(20);
        assert_eq!(
            slot.set_simulation(Some(renewed), now),
            Some(lease),
            "a renewal replaces the lease in force"
        );
        assert_eq!(slot.simulated(lease), Some(renewed));
        assert_eq!(slot.forced(now), None, "no override");
        assert!(!slot.take_release(), "no hold released");
        assert_eq!(slot.set_simulation(None, now), Some(renewed));
        assert_eq!(slot.simulated(now), None);
        assert_eq!(
            slot.set_simulation(None, renewed),
            None,
            "ending none is no error"
        );
    }

    #[test]
    fn standing_rule() {
        let down = Some(Override {
            state: Health::Down,
            until: None,
        });
        let up = Some(Override {
            state: Health::Up,
            until: None,
        });
        assert_eq!(standing(Health::Up, false, None), Standing::Serving);
        assert_eq!(
            standing(Health::Up, true, None),
            Standing::Held,
            "held, but up"
        );
        assert_eq!(
            standing(Health::Down, true, None),
            Standing::Out,
            "held and down"
        );
        assert_eq!(standing(Health::Up, true, down), Standing::Out, "drained");
        assert_eq!(standing(Health::Up, false, down), Standing::Out);
        assert_eq!(
            standing(Health::Down, true, up),
            Standing::Serving,
            "forced in"
        );
        assert_eq!(standing(Health::Down, false, None), Standing::Out);
    }

    #[test]
    fn the_atomic_keeps_every_standing() {
        let slot = Slot::new(Health::Down);
        assert_eq!(slot.standing(), Standing::Out);
        for s in [Standing::Serving, Standing::Held, Standing::Out] {
            slot.publish(s);
            assert_eq!(slot.standing(), s);
            assert_eq!(slot.serving(), s == Standing::Serving);
        }
    }

    #[test]
    fn restoring_publishes_at_once_and_releases_nothing() {
        let slot = Slot::new(Health::Up);
        slot.restore(None, true);
        assert_eq!(slot.standing(), Standing::Held);
        assert!(slot.detail().held);
        assert!(!slot.take_release());
        let drained = Some(Override {
            state: Health::Down,
            until: None,
        });
        slot.restore(drained, false);
        assert_eq!(slot.standing(), Standing::Out);
        assert_eq!(slot.forced(SystemTime::now()), drained);
        slot.withdraw_override();
        assert_eq!(slot.forced(SystemTime::now()), None);
        assert!(!slot.take_release(), "withdrawing releases no hold");
    }
}
