//! cri-client: a few CRI v1 calls from the command line, crictl-style, for
//! `e2e/docker.sh`. A pod uses the host's network (the default) or, with
//! `pod`, its own network namespace from CNI.
//!
//! ```text
//! cri-client --socket S version
//! cri-client --socket S runp NAME HANDLER LOGDIR [host|pod]  -> pod id
//! cri-client --socket S create POD NAME IMAGE LOGDIR [-e K=V]... -- CMD...
//!                                                      -> container id
//! cri-client --socket S start|rm ID
//! cri-client --socket S stop ID SECONDS
//! cri-client --socket S state ID                      -> "STATE EXIT_CODE"
//! cri-client --socket S wait ID SECONDS               -> exit code
//! cri-client --socket S exec ID -- CMD...             -> its output, its status
//! cri-client --socket S pod POD                        -> "STATE HANDLER"
//! cri-client --socket S stopp|rmp POD
//! ```

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::{
    self as cri, image_service_client::ImageServiceClient,
    runtime_service_client::RuntimeServiceClient,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

type Rt = RuntimeServiceClient<Channel>;

async fn connect(socket: String) -> Result<Channel> {
    // The URI is required by tonic but unused: the connector dials the socket.
    let ch = Endpoint::try_from("http://[::]:0")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let s = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(s))
            }
        }))
        .await
        .context("connecting to the CRI socket")?;
    Ok(ch)
}

/// The host's network (`host_net`, like hostNetwork: true) or the pod's
/// own (set up by CNI), a pid namespace per container (the kubelet's
/// default, without shareProcessNamespace), the pod's IPC.
fn pod_namespaces(host_net: bool) -> Option<cri::NamespaceOption> {
    Some(cri::NamespaceOption {
        network: if host_net { cri::NamespaceMode::Node } else { cri::NamespaceMode::Pod } as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    })
}

/// The label that records a pod's network mode, for CreateContainer.
const NET_LABEL: &str = "runsc-rs-e2e/network";

/// The pod config. CreateContainer needs the same one again, so it is a
/// function of the pod name, log directory and network mode alone.
fn pod_config(name: &str, log_dir: &str, host_net: bool) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "runsc-rs-e2e".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.into(),
        labels: HashMap::from([(NET_LABEL.into(), if host_net { "host" } else { "pod" }.into())]),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: pod_namespaces(host_net),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn state_name(s: i32) -> &'static str {
    cri::ContainerState::try_from(s).map_or("UNKNOWN_STATE", |s| s.as_str_name())
}

async fn container_status(rt: &mut Rt, id: &str) -> Result<cri::ContainerStatus> {
    rt.container_status(cri::ContainerStatusRequest { container_id: id.into(), verbose: false })
        .await?
        .into_inner()
        .status
        .ok_or_else(|| anyhow!("no status for container {id}"))
}

/// Splits `ARGS... -- CMD...`.
fn split_cmd(args: &[String]) -> (&[String], Vec<String>) {
    match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    }
}

async fn run(args: Vec<String>) -> Result<i32> {
    let (socket, rest) = match args.as_slice() {
        [flag, s, rest @ ..] if flag == "--socket" => (s.clone(), rest.to_vec()),
        _ => bail!("usage: cri-client --socket PATH COMMAND ARGS (see the source's header)"),
    };
    let ch = connect(socket).await?;
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let (cmd, argv) = rest.split_first().ok_or_else(|| anyhow!("no command"))?;
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    match (cmd.as_str(), argv.as_slice()) {
        ("version", []) => {
            let v = rt.version(cri::VersionRequest { version: "v1".into() }).await?.into_inner();
            println!("{} {} {}", v.runtime_name, v.runtime_version, v.runtime_api_version);
        }
        ("runp", [name, handler, log_dir, net @ ..]) if matches!(net, [] | ["host"] | ["pod"]) => {
            let r = rt
                .run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(pod_config(name, log_dir, net != ["pod"])),
                    runtime_handler: (*handler).into(),
                })
                .await?
                .into_inner();
            println!("{}", r.pod_sandbox_id);
        }
        ("create", [pod, name, image, log_dir, ..]) => {
            let (opts, command) = split_cmd(&rest[5..]);
            let mut envs = Vec::new();
            let mut it = opts.iter();
            while let Some(o) = it.next() {
                match (o.as_str(), it.next()) {
                    ("-e", Some(kv)) => {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        envs.push(cri::KeyValue { key: k.into(), value: v.into() });
                    }
                    _ => bail!("create: unknown option {o}"),
                }
            }
            // The image must be present (imported with ctr -n k8s.io): the
            // test machine has no registry to pull from.
            let mut img = ImageServiceClient::new(ch.clone());
            let found = img
                .image_status(cri::ImageStatusRequest {
                    image: Some(cri::ImageSpec { image: (*image).into(), ..Default::default() }),
                    verbose: false,
                })
                .await?
                .into_inner();
            if found.image.is_none() {
                bail!("image {image} is not in containerd's k8s.io namespace");
            }
            let pod_status = rt
                .pod_sandbox_status(cri::PodSandboxStatusRequest {
                    pod_sandbox_id: (*pod).into(),
                    verbose: false,
                })
                .await?
                .into_inner()
                .status
                .ok_or_else(|| anyhow!("no status for pod {pod}"))?;
            let pod_name = pod_status.metadata.map(|m| m.name).ok_or_else(|| anyhow!("pod {pod} has no metadata"))?;
            let host_net = pod_status.labels.get(NET_LABEL).map(String::as_str) != Some("pod");
            let r = rt
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: (*pod).into(),
                    config: Some(cri::ContainerConfig {
                        metadata: Some(cri::ContainerMetadata { name: (*name).into(), attempt: 0 }),
                        image: Some(cri::ImageSpec { image: (*image).into(), ..Default::default() }),
                        command,
                        envs,
                        log_path: format!("{name}.log"),
                        labels: HashMap::from([("runsc-rs-e2e".into(), "1".into())]),
                        // As the kubelet does: the container's namespaces
                        // follow the pod's.
                        linux: Some(cri::LinuxContainerConfig {
                            security_context: Some(cri::LinuxContainerSecurityContext {
                                namespace_options: pod_namespaces(host_net),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    sandbox_config: Some(pod_config(&pod_name, log_dir, host_net)),
                })
                .await?
                .into_inner();
            println!("{}", r.container_id);
        }
        ("start", [id]) => {
            rt.start_container(cri::StartContainerRequest { container_id: (*id).into() }).await?;
        }
        ("stop", [id, secs]) => {
            rt.stop_container(cri::StopContainerRequest {
                container_id: (*id).into(),
                timeout: secs.parse().context("timeout seconds")?,
            })
            .await?;
        }
        ("rm", [id]) => {
            rt.remove_container(cri::RemoveContainerRequest { container_id: (*id).into() }).await?;
        }
        ("state", [id]) => {
            let s = container_status(&mut rt, id).await?;
            println!("{} {}", state_name(s.state), s.exit_code);
        }
        ("wait", [id, secs]) => {
            // CRI v1 in containerd 1.6 has no event stream, so this polls the
            // status the way crictl does, with a deadline.
            let deadline = Instant::now() + Duration::from_secs(secs.parse().context("seconds")?);
            let mut pause = Duration::from_millis(5);
            loop {
                let s = container_status(&mut rt, id).await?;
                if s.state == cri::ContainerState::ContainerExited as i32 {
                    println!("{}", s.exit_code);
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("container {id} still {} after {secs}s", state_name(s.state));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
        ("exec", [id, ..]) => {
            let (_, command) = split_cmd(&rest[2..]);
            let r = rt
                .exec_sync(cri::ExecSyncRequest { container_id: (*id).into(), cmd: command, timeout: 60 })
                .await?
                .into_inner();
            use std::io::Write;
            std::io::stdout().write_all(&r.stdout)?;
            std::io::stderr().write_all(&r.stderr)?;
            return Ok(r.exit_code);
        }
        ("pod", [pod]) => {
            let s = rt
                .pod_sandbox_status(cri::PodSandboxStatusRequest {
                    pod_sandbox_id: (*pod).into(),
                    verbose: false,
                })
                .await?
                .into_inner()
                .status
                .ok_or_else(|| anyhow!("no status for pod {pod}"))?;
            let state = cri::PodSandboxState::try_from(s.state).map_or("UNKNOWN", |s| s.as_str_name());
            println!("{state} {}", s.runtime_handler);
        }
        ("stopp", [pod]) => {
            rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: (*pod).into() }).await?;
        }
        ("rmp", [pod]) => {
            rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: (*pod).into() })
                .await?;
        }
        _ => bail!("unknown command or wrong arguments: {cmd} {}", argv.join(" ")),
    }
    Ok(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(std::env::args().skip(1).collect())) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cri-client: {e:#}");
            std::process::exit(1);
        }
    }
}
