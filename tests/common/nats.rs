//! A `nats-server` of a test's own (Debian's package), on free ports: for the NATS broker's
//! tests and the cluster tests run through NATS.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use super::WAIT;

/// A `nats-server` of this test's own, killed when dropped.
pub struct NatsServer {
    port: u16,
    /// Its monitoring port (`/connz` lists each client's subscriptions).
    monitor: u16,
    child: Option<Child>,
}

/// Ports nobody listens on right now: ephemeral ones, bound together (so they differ) and
/// let go.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] = std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").unwrap());
    listeners.map(|l| l.local_addr().unwrap().port())
}

pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

impl NatsServer {
    pub async fn start() -> Self {
        let [port, monitor] = free_ports();
        let mut server = Self { port, monitor, child: None };
        server.run().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server on its ports and waits until it accepts connections.
    pub async fn run(&mut self) {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let (port, monitor) = (self.port.to_string(), self.monitor.to_string());
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port, "-m", &monitor])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (apt-get install nats-server)");
        let child = self.child.insert(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "nats-server does not accept connections");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Ours, not another process that took the port meanwhile.
        assert!(child.try_wait().unwrap().is_none(), "nats-server exited: port {} taken?", self.port);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client's connection (by its name, `qa-hub:NODE_ID`) as `/connz` shows it.
    pub async fn connection(&self, node: &str) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/connz?subs=1", self.monitor);
        let connz: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let name = format!("qa-hub:{node}");
        let connections = connz["connections"].as_array().cloned().unwrap_or_default();
        connections.into_iter().find(|c| c["name"] == name.as_str())
    }

    /// The subjects each client (by its connection name, `qa-hub:NODE_ID`) subscribes to.
    pub async fn subscriptions(&self, node: &str) -> Vec<String> {
        let Some(connection) = self.connection(node).await else {
            return Vec::new();
        };
        let subjects = connection["subscriptions_list"].as_array().cloned().unwrap_or_default();
        subjects.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()
    }

    /// The server's id of a client's connection (by its name), while it is connected: a
    /// reconnect gets a new one.
    pub async fn connection_id(&self, node: &str) -> Option<u64> {
        self.connection(node).await?["cid"].as_u64()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
