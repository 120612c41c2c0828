//! The Slurm executor: the submission's tasks as one job array, written as a readable `sbatch`
//! script (task `i` runs `ratlab run EXP --trial i --out RUNS` with the same binary), submitted
//! with `sbatch --parsable`, followed with `squeue` and stopped with `scancel`. No daemon of
//! ratlab's own: the run store on the shared file system is where results meet.

use super::{index_ranges, Executor, Submission, TaskState};
use crate::error::InputError;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Slurm, through its command-line tools on PATH.
pub struct Slurm;

/// `sbatch` options ratlab writes itself; `--sbatch-arg` may not set them.
const OWN_OPTIONS: [&str; 7] = ["--array", "--output", "--error", "--chdir", "--parsable", "--wrap", "--dependency"];

/// Whether a program is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Quote a word for bash, so any path survives the script.
fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Check a `--time` value against the formats Slurm takes: `MINUTES`, `MM:SS`, `HH:MM:SS`,
/// `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
pub fn check_time(t: &str) -> Result<(), InputError> {
    let num = |s: &str| !s.is_empty() && s.len() <= 6 && s.chars().all(|c| c.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let ok = days.is_none_or(num) && parts.iter().all(|p| num(p)) && (1..=3).contains(&parts.len());
    if ok {
        Ok(())
    } else {
        Err(InputError::new(format!("'{t}' is not a Slurm time limit; use MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 01:00:00)")).field("--time"))
    }
}

/// Check a `--sbatch-arg` value: one `sbatch` option, not one ratlab writes itself.
pub fn check_sbatch_arg(a: &str) -> Result<(), InputError> {
    let err = |m: String| Err(InputError::new(m).field("--sbatch-arg"));
    if !a.starts_with('-') {
        return err(format!("'{a}' is not an sbatch option; give one option per --sbatch-arg, e.g. --sbatch-arg=--mem=4G"));
    }
    if a.contains('\n') || a.contains('\r') {
        return err("an sbatch option cannot span lines".into());
    }
    let name = a.split(['=', ' ']).next().unwrap_or(a);
    if OWN_OPTIONS.contains(&name) {
        return err(format!("ratlab sets {name} itself in the job script; the options it leaves to you include --mem, --gres, --account, --qos, --constraint"));
    }
    Ok(())
}

impl Executor for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn title(&self) -> &'static str {
        "Slurm"
    }

    fn check(&self) -> Result<(), InputError> {
        if let Some(missing) = ["sbatch", "squeue", "scancel"].into_iter().find(|p| !on_path(p)) {
            return Err(InputError::new(format!(
                "--executor slurm needs Slurm's sbatch, squeue and scancel on PATH, and `{missing}` is not there. Run ratlab on a node that submits to the cluster, or try it on this machine with a one-node cluster: scripts/slurm-loopback.sh start DIR (README: Running on a Slurm cluster)"
            ))
            .field("--executor"));
        }
        Ok(())
    }

    fn script(&self, sub: &Submission, tasks: &[usize], after: &[String]) -> String {
        let o = &sub.slurm;
        let mut s = String::new();
        let line = |s: &mut String, l: &str| {
            s.push_str(l);
            s.push('\n');
        };
        line(&mut s, "#!/bin/bash");
        line(&mut s, &format!("# ratlab: experiment '{}' as a Slurm job array, written by `ratlab run --executor slurm`.", sub.experiment));
        line(&mut s, &format!("# From {} (overrides, if any, are applied in the copy it runs: {}).", sub.source.display(), sub.experiment_file().display()));
        // Plain trial tasks (`--trial i`, nothing else) take their index straight from Slurm.
        let all_trials = tasks.iter().all(|i| sub.task(*i).is_some_and(|t| t.args == ["--trial".to_string(), i.to_string()]));
        if all_trials {
            line(&mut s, "# Task i runs trial i of the experiment's search (ratlab run --trial i); each run lands in the");
        } else {
            line(&mut s, "# Each task runs one entry of TASKS below; each run lands in the");
        }
        line(&mut s, &format!("# shared run store {} as its own directory.", sub.out.display()));
        let throttle = o.max_parallel.map(|m| format!("%{m}")).unwrap_or_default();
        line(&mut s, &format!("#SBATCH --array={}{throttle}", index_ranges(tasks)));
        line(&mut s, &format!("#SBATCH --job-name=ratlab-{}", crate::experiments::store::slug(&sub.experiment)));
        line(&mut s, &format!("#SBATCH --output={}", sub.dir.join("logs").join("%A_%a.out").display()));
        line(&mut s, &format!("#SBATCH --chdir={}", sub.workdir.display()));
        line(&mut s, &format!("#SBATCH --cpus-per-task={}", o.cpus_per_trial.max(1)));
        if let Some(t) = &o.time {
            line(&mut s, &format!("#SBATCH --time={t}"));
        }
        if let Some(p) = &o.partition {
            line(&mut s, &format!("#SBATCH --partition={p}"));
        }
        if !after.is_empty() {
            line(&mut s, "# These tasks start from runs of the job(s) named here (init_from): they wait for them to succeed,");
            line(&mut s, "# and are cancelled if one fails.");
            line(&mut s, &format!("#SBATCH --dependency=afterok:{}", after.join(":")));
            line(&mut s, "#SBATCH --kill-on-invalid-dep=yes");
        }
        for a in &o.sbatch_args {
            line(&mut s, &format!("#SBATCH {a}"));
        }
        line(&mut s, "set -euo pipefail");
        line(&mut s, "# Each trial uses the CPUs Slurm gave it.");
        line(&mut s, "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\" POLARS_MAX_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\" OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"");
        let mut cmd = vec![sh_quote(&sub.binary.display().to_string()), "run".into(), sh_quote(&sub.experiment_file().display().to_string()), "--out".into(), sh_quote(&sub.out.display().to_string())];
        cmd.extend(sub.pass.iter().map(|a| sh_quote(a)));
        if all_trials {
            cmd.push("--trial".into());
            cmd.push("\"$SLURM_ARRAY_TASK_ID\"".into());
        } else {
            line(&mut s, "TASKS=(");
            for t in tasks.iter().filter_map(|i| sub.task(*i)) {
                let args = t.args.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
                line(&mut s, &format!("  [{}]=\"{args}\"", t.index));
            }
            line(&mut s, ")");
            cmd.push("${TASKS[$SLURM_ARRAY_TASK_ID]}".into());
        }
        line(&mut s, &format!("exec {}", cmd.join(" ")));
        s
    }

    fn submit(&self, script: &Path) -> Result<String, InputError> {
        let out = Command::new("sbatch")
            .arg("--parsable")
            .arg(script)
            .output()
            .map_err(|e| InputError::new(format!("cannot start sbatch: {e}")).field("--executor"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let msg = stderr.trim();
            return Err(InputError::new(format!("Slurm refused the job: {}", if msg.is_empty() { "sbatch failed without a message" } else { msg })).file(script));
        }
        // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(InputError::new(format!("sbatch answered '{}' instead of a job id", stdout.trim())).file(script));
        }
        Ok(id)
    }

    fn poll(&self, job: &str) -> Result<BTreeMap<usize, TaskState>, String> {
        let out = Command::new("squeue")
            .args(["--noheader", "--array", "--states=all", "--jobs", job, "--format=%K|%T|%r"])
            .output()
            .map_err(|e| format!("cannot start squeue: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            // A job Slurm has forgotten (it ended more than MinJobAge ago): nothing to list.
            if stderr.contains("Invalid job id") {
                return Ok(BTreeMap::new());
            }
            return Err(format!("squeue failed: {}", stderr.trim()));
        }
        Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
    }

    fn cancel(&self, job: &str) -> Result<(), String> {
        let out = Command::new("scancel").arg(job).output().map_err(|e| format!("cannot start scancel: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("scancel {job} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

/// Read `squeue --array --format=%K|%T|%r` lines: array index (or a range for tasks not yet
/// split off), state and reason.
pub fn parse_squeue(text: &str) -> BTreeMap<usize, TaskState> {
    let mut out = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.trim().splitn(3, '|').collect();
        let [idx, state, reason] = f[..] else { continue };
        let Some(indices) = super::parse_ranges(idx) else { continue };
        let st = match state {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" | "SUSPENDED" | "STOPPED" => TaskState::Pending { reason: reason.to_string() },
            "RUNNING" | "CONFIGURING" | "COMPLETING" | "RESIZING" | "SIGNALING" | "STAGE_OUT" => TaskState::Running,
            other => TaskState::Ended { state: other.to_string(), reason: reason.to_string(), exit_code: None },
        };
        for i in indices {
            out.insert(i, st.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_become_task_states() {
        let text = "5|RUNNING|None\n2|COMPLETED|None\n3|TIMEOUT|TimeLimit\n[6-8%2]|PENDING|JobArrayTaskLimit\ngarbage\n";
        let s = parse_squeue(text);
        assert_eq!(s.get(&5), Some(&TaskState::Running));
        assert_eq!(s[&2].abnormal_end(), None);
        assert_eq!(s[&3].abnormal_end().as_deref(), Some("TIMEOUT (TimeLimit)"));
        assert_eq!(s.get(&7), Some(&TaskState::Pending { reason: "JobArrayTaskLimit".into() }));
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn time_limits_take_slurms_formats_only() {
        for ok in ["30", "10:00", "01:00:00", "2-0", "2-12:30", "1-00:00:00"] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "-5", "1-", "ten", "1-2:3:4:5"] {
            let e = check_time(bad).unwrap_err();
            assert!(e.message.contains("HH:MM:SS"), "{bad}: {e}");
        }
    }

    #[test]
    fn sbatch_args_are_single_options_ratlab_does_not_own() {
        assert!(check_sbatch_arg("--mem=4G").is_ok());
        assert!(check_sbatch_arg("--gres=gpu:1").is_ok());
        assert!(check_sbatch_arg("mem=4G").unwrap_err().message.contains("not an sbatch option"));
        assert!(check_sbatch_arg("--array=0-3").unwrap_err().message.contains("sets --array itself"));
        assert!(check_sbatch_arg("--mem=1G\nrm -rf /").is_err());
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(sh_quote("/a/b-c_1.yaml"), "/a/b-c_1.yaml");
        assert_eq!(sh_quote("/my runs/it's"), "'/my runs/it'\\''s'");
    }
}
