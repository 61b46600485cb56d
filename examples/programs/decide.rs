//! The README's library example as a program: read a Rollout, describe what
//! the cluster looks like, and print the one decision the engine makes.
//!
//! ```sh
//! cargo run -p rollgate-examples --bin decide -- examples/manifests/seed001-rollout-canary.yaml
//! ```
//!
//! The cluster it describes: the Rollout's stable ReplicaSet (hash `stable`)
//! runs every pod, and the pod template has just changed (hash `canary`), so
//! the decision is the first step of a canary update (for a blue-green
//! Rollout, the pass that starts the update: the new ReplicaSet is created
//! and the preview Service points at it).

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use rollout_core::{Observations, ReplicaSetState, ServiceSelector, Time, decide, manifest};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/manifests/seed001-rollout-canary.yaml".to_owned());
    let text = std::fs::read_to_string(&path).with_context(|| format!("{path}: cannot read"))?;
    // Errors read `FILE:LINE: namespace/name: field: message`.
    let objects = manifest::read(&text, &path)?;
    let object = objects
        .iter()
        .find(|o| o.is_rollout())
        .with_context(|| format!("{path}: no Rollout in this file"))?;
    let mut rollout = object.rollout()?;
    let problems = rollout_core::validate(&rollout);
    if !problems.is_empty() {
        for p in problems {
            eprintln!("{}", object.diagnostic(p));
        }
        return Ok(ExitCode::FAILURE);
    }

    // What a controller would have read from the cluster.
    let replicas = rollout.replicas();
    let status = rollout.status.get_or_insert_with(Default::default);
    status.stable_rs = Some("stable".into());
    status.current_pod_hash = Some("stable".into());
    // A blue-green Rollout's Services select the stable pods.
    let services: Vec<ServiceSelector> = rollout
        .blue_green()
        .map(|bg| {
            std::iter::once(bg.active_service.clone())
                .chain(bg.preview_service.clone())
                .map(|service_name| ServiceSelector {
                    service_name,
                    pod_template_hash: Some("stable".into()),
                })
                .collect()
        })
        .unwrap_or_default();
    let observed = Observations {
        current_pod_hash: "canary".into(),
        replica_sets: vec![ReplicaSetState {
            pod_template_hash: "stable".into(),
            revision: 1,
            spec_replicas: replicas,
            replicas,
            ready_replicas: replicas,
            available_replicas: replicas,
            scale_down_deadline: None,
            created: None,
        }],
        services,
        ..Default::default()
    };

    let decision = decide(
        &rollout,
        &observed,
        Time::from_system_time(SystemTime::now()),
    )?;

    println!("rollout {}", rollout.object_name());
    for rs in &decision.replica_sets {
        println!(
            "  scale ReplicaSet {} ({:?}) to {} pods",
            rs.pod_template_hash, rs.role, rs.replicas
        );
    }
    match &decision.traffic {
        Some(t) => println!(
            "  traffic: canary {} and stable {} of {}",
            t.canary.weight, t.stable.weight, t.max_weight
        ),
        None if rollout.blue_green().is_some() => {}
        None => println!("  traffic: follows the pod ratio (basic canary)"),
    }
    for service in &decision.services {
        let hash = service.pod_template_hash.as_deref().unwrap_or_default();
        println!("  Service {} selects {hash}", service.service_name);
    }
    for run in &decision.analysis_runs {
        println!("  AnalysisRun {} should run", run.name);
    }
    for e in &decision.events {
        let kind = if e.warning { "Warning" } else { "Normal" };
        println!("  event {kind} {}: {}", e.reason, e.message);
    }
    let step = decision
        .status
        .current_step_index
        .map_or_else(|| "none".to_owned(), |i| i.to_string());
    println!(
        "  status: step index {step}, phase {}",
        rollout_core::conditions::phase(&rollout, &decision.status).0
    );
    match decision.requeue_after {
        Some(d) if d.is_zero() => println!("  call again at once"),
        Some(d) => println!("  call again in {d:?}"),
        None => println!("  nothing to wait for"),
    }
    Ok(ExitCode::SUCCESS)
}
