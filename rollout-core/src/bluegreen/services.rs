//! The preview and active Services (Argo's `reconcilePreviewService` and
//! `reconcileActiveService`): which pod template hash each one's selector
//! should carry.
//!
//! The preview Service follows the current ReplicaSet from the start of an
//! update. The active Service moves to it once it is fully scaled and
//! available, the pause is over and pre-promotion analysis has succeeded
//! (at once on a fast-tracked update), and back to the stable ReplicaSet on
//! an abort. `spec.paused` or an inconclusive run holds both where they are.

use super::Pass;
use crate::decision::{ReplicaSetState, ServiceSelector};

impl Pass<'_> {
    pub(super) fn reconcile_preview_service(&mut self) {
        let Some(service) = self.bg.preview_service.as_deref() else {
            return;
        };
        if self.halted() {
            return;
        }
        let hash = self.current_hash().to_owned();
        let mut selector = self.preview.take();
        self.switch(service, &mut selector, hash);
        self.preview = selector;
    }

    pub(super) fn reconcile_active_service(&mut self) {
        if self.halted() {
            return;
        }
        let Some(new) = self.new else {
            return;
        };
        if !self.ready_for_pause() || !self.saturated(new) {
            return;
        }
        let mut hash = self.active.clone();
        if self.fast_tracked()
            || (self.completed_pause() && self.completed_pre_promotion_analysis())
        {
            hash = Some(self.current_hash().to_owned());
        }
        if self.prev.abort {
            hash.clone_from(&self.prev.stable_rs);
        }
        let Some(hash) = hash else {
            return;
        };
        let service = self.bg.active_service.as_str();
        let mut selector = self.active.take();
        self.switch(service, &mut selector, hash);
        self.active = selector;
    }

    /// Points `service` (whose selector carries `selector`) at `hash`,
    /// recording Argo's `SwitchService` event when that changes it.
    fn switch(&mut self, service: &str, selector: &mut Option<String>, hash: String) {
        if selector.as_deref() != Some(hash.as_str()) {
            self.event(
                false,
                "SwitchService",
                format!(
                    "Switched selector for service '{service}' from '{}' to '{hash}'",
                    selector.as_deref().unwrap_or("")
                ),
            );
        }
        self.services.push(ServiceSelector {
            service_name: service.to_owned(),
            pod_template_hash: Some(hash.clone()),
        });
        *selector = Some(hash);
    }

    /// Argo's `ReadyForPause`: the current ReplicaSet asks for and has
    /// available the pods this point of the update wants.
    pub(super) fn ready_for_pause(&self) -> bool {
        let Some(new) = self.new else {
            return false;
        };
        let wanted = self.new_rs_replicas();
        new.spec_replicas == wanted && new.available_replicas == wanted
    }

    /// Argo's `IsSaturated`: the ReplicaSet asks for and has available
    /// `spec.replicas` pods.
    pub(super) fn saturated(&self, rs: &ReplicaSetState) -> bool {
        rs.spec_replicas == self.r && rs.available_replicas == self.r
    }
}
