//! `tether bench`: runs a workload of the load generator (crate
//! `tether-bench`) and prints its report(s).

use std::process::ExitCode;
use std::time::Duration;

use tether_bench::fanout_load::FanoutPlan;
use tether_bench::idle_load::IdlePlan;
use tether_bench::{echo_load, fanout_load, h2_load, idle_load, setup_load, Report, Target};

use crate::flags::bench::{BenchArgs, Workload};

/// Runs a workload and prints its report(s); fails when any error happened.
pub async fn run(args: BenchArgs) -> Result<ExitCode, String> {
    let (common_args, reports) = match &args.workload {
        Workload::Echo { common, echo, client, size } => {
            let (mut target, c) = common.resolve()?;
            if let Some(transport) = client.transport() {
                (common, vec![h2_load::echo(echo.tether_client_plan(*size, transport)?, &c).await?])
            } else {
                target.deflate = echo.deflate;
                (common, vec![echo_load::run(target, echo.plan(*size), &c).await?])
            }
        }
        Workload::Large { common, echo, sizes } => {
            let (mut target, c) = common.resolve()?;
            target.deflate = echo.deflate;
            let mut reports = Vec::new();
            for &size in sizes {
                let report = echo_load::run(target.clone(), echo.plan(size), &c).await?;
                print(&report, common.json);
                reports.push(report);
            }
            let failed = reports.iter().any(|r| r.errors > 0);
            return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
        Workload::Setup { common, concurrency, client } => {
            let (target, c) = common.resolve()?;
            let report = match client.transport() {
                Some(transport) => h2_load::setup(*concurrency, transport, &c).await?,
                None => setup_load::run(target, *concurrency, &c).await?,
            };
            (common, vec![report])
        }
        Workload::Fanout { common, hubs, members, publishers, size, rate, rooms } => {
            let (target, c) = common.resolve()?;
            let mut targets = vec![target];
            for hub in hubs {
                targets.push(Target::parse(hub)?);
            }
            let plan =
                FanoutPlan { members: *members, publishers: *publishers, size: *size, rate: *rate, rooms: *rooms };
            (common, vec![fanout_load::run(targets, plan, &c).await?])
        }
        Workload::Idle { common, conns, size, hold, deflate, answer_ping } => {
            let (mut target, c) = common.resolve()?;
            target.deflate = *deflate;
            let hold = Duration::try_from_secs_f64(*hold).map_err(|_| "--hold must be a number of seconds")?;
            let plan = IdlePlan { conns: *conns, size: *size, hold, answer_pings: *answer_ping };
            (common, vec![idle_load::run(target, plan, &c).await?])
        }
    };
    for r in &reports {
        print(r, common_args.json);
    }
    Ok(if reports.iter().any(|r| r.errors > 0) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
}
