//! Tenant leases and cluster membership on PostgreSQL, for several nodes sharing one database.
//!
//! A node announces itself in `cluster_nodes` with a heartbeat. A tenant is written by the node holding its row
//! in `tenant_leases`; the lease expires unless renewed, and every grant increments the tenant's `epoch`. Writes
//! and snapshots made under a lease carry it (`Lease`) and commit only while the row still names that node and
//! epoch (see `postgres.rs`), so a node that lost its lease (paused, partitioned, slow) can never commit after a
//! new one took over. Every time here is the database's clock (`clock_timestamp()`): the nodes' clocks never
//! need to agree, only to run at the same rate for the few seconds of a lease.

use std::sync::Arc;
use std::time::Duration;

use postgres::Client;

use crate::error::StoreError;
use crate::records::Lease;
use crate::url::StoreUrl;

/// A node as it announced itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's id.
    pub node: String,
    /// Where other nodes and clients reach it (`http://host:port`).
    pub advertise: String,
    /// Milliseconds since it started.
    pub started_ms_ago: i64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_ms_ago: i64,
}

/// A tenant's lease row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    /// The tenant.
    pub tenant: String,
    /// The node holding it; `None` after a graceful release.
    pub node: Option<String>,
    /// The epoch of the latest grant.
    pub epoch: i64,
    /// Milliseconds since it was granted.
    pub held_ms: i64,
    /// Milliseconds until it expires (negative once expired).
    pub expires_in_ms: i64,
    /// How many times the tenant changed hands (grants and releases).
    pub changes: i64,
}

/// What the cluster looks like now, by the database's clock.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// Every node that announced itself, alive or not.
    pub nodes: Vec<NodeRow>,
    /// Every lease row.
    pub leases: Vec<LeaseRow>,
    /// Every stored tenant.
    pub tenants: Vec<String>,
}

/// One node's connection for leases and membership. Its calls are short single statements.
pub struct Leases {
    /// Always `Some` until dropped.
    client: Option<Client>,
    node: Arc<str>,
    redacted: String,
}

impl Drop for Leases {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            crate::outside_async(|| drop(client));
        }
    }
}

fn map_error(url: &str, context: &str, error: postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("{url}: {context}: {error}"))
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

impl Leases {
    /// Connects as node `node`. The database must be PostgreSQL with the schema in place (open a `Store` on it
    /// first: that migrates it).
    pub fn open(url: &str, node: &str) -> Result<Leases, StoreError> {
        let parsed = StoreUrl::parse(url)?;
        let redacted = parsed.redacted();
        let StoreUrl::Postgres(full) = parsed else {
            return Err(StoreError::Config(format!(
                "several nodes need PostgreSQL; {redacted} is an SQLite file, which one node serves"
            )));
        };
        let mut client = crate::postgres::Postgres::connect(&full, &redacted)?;
        // A lease row locked by a writer that was paused mid-transaction stays locked until PostgreSQL ends that
        // transaction (`idle_in_transaction_session_timeout`, 2 s): never wait for it here, try again next round.
        client
            .batch_execute("SET lock_timeout = 200")
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot configure the session on {redacted}: {e}"))
            })?;
        Ok(Leases {
            client: Some(client),
            node: Arc::from(node),
            redacted,
        })
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("open until dropped")
    }

    /// This node's id.
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// True when the connection is lost (a new `Leases` must be opened).
    pub fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// Announces the node (or refreshes its heartbeat). `starting` resets its start time.
    pub fn heartbeat(&mut self, advertise: &str, starting: bool) -> Result<(), StoreError> {
        let node = self.node.clone();
        let node: &str = &node;
        self.client()
            .execute(
                "INSERT INTO cluster_nodes (node, advertise, started_at, heartbeat_at) \
                 VALUES ($1, $2, clock_timestamp(), clock_timestamp()) \
                 ON CONFLICT (node) DO UPDATE SET advertise = EXCLUDED.advertise, \
                   heartbeat_at = EXCLUDED.heartbeat_at, \
                   started_at = CASE WHEN $3 THEN EXCLUDED.started_at ELSE cluster_nodes.started_at END",
                &[&node, &advertise, &starting],
            )
            .map_err(|e| map_error(&self.redacted, "announce the node", e))?;
        Ok(())
    }

    /// Removes the node's announcement (graceful shutdown): others stop counting on it at once.
    pub fn leave(&mut self) -> Result<(), StoreError> {
        let node = self.node.clone();
        let node: &str = &node;
        self.client()
            .execute("DELETE FROM cluster_nodes WHERE node = $1", &[&node])
            .map_err(|e| map_error(&self.redacted, "leave the cluster", e))?;
        Ok(())
    }

    /// Nodes, leases and tenants as the database sees them now. Nodes silent for over an hour are forgotten.
    pub fn view(&mut self) -> Result<ClusterView, StoreError> {
        let url = self.redacted.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        self.client()
            .execute(
                "DELETE FROM cluster_nodes WHERE heartbeat_at < clock_timestamp() - interval '1 hour'",
                &[],
            )
            .map_err(err("forget silent nodes"))?;
        let nodes = self
            .client()
            .query(
                "SELECT node, advertise, \
                   (EXTRACT(EPOCH FROM clock_timestamp() - started_at) * 1000)::int8, \
                   (EXTRACT(EPOCH FROM clock_timestamp() - heartbeat_at) * 1000)::int8 \
                 FROM cluster_nodes ORDER BY node",
                &[],
            )
            .map_err(err("read the nodes"))?
            .iter()
            .map(|row| NodeRow {
                node: row.get(0),
                advertise: row.get(1),
                started_ms_ago: row.get(2),
                heartbeat_ms_ago: row.get(3),
            })
            .collect();
        let leases = self
            .client()
            .query(
                "SELECT tenant, node, epoch, \
                   (EXTRACT(EPOCH FROM clock_timestamp() - acquired_at) * 1000)::int8, \
                   (EXTRACT(EPOCH FROM expires_at - clock_timestamp()) * 1000)::int8, changes \
                 FROM tenant_leases ORDER BY tenant",
                &[],
            )
            .map_err(err("read the leases"))?
            .iter()
            .map(|row| LeaseRow {
                tenant: row.get(0),
                node: row.get(1),
                epoch: row.get(2),
                held_ms: row.get(3),
                expires_in_ms: row.get(4),
                changes: row.get(5),
            })
            .collect();
        let tenants = self
            .client()
            .query("SELECT id FROM tenants ORDER BY id", &[])
            .map_err(err("list tenants"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        Ok(ClusterView {
            nodes,
            leases,
            tenants,
        })
    }

    /// Takes a tenant's lease for `ttl` if it is free, expired or left by an earlier run of this node. Returns
    /// the lease (with its new epoch) or `None` if another node holds it. Never call it for a lease this process
    /// holds: the new epoch fences its own writes.
    pub fn acquire(&mut self, tenant: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let node = self.node.clone();
        let node: &str = &node;
        let row = self
            .client()
            .query_opt(
                "INSERT INTO tenant_leases (tenant, node, epoch, acquired_at, expires_at, changes) \
                 VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + $3::float8 * interval '1 millisecond', 1) \
                 ON CONFLICT (tenant) DO UPDATE SET node = EXCLUDED.node, epoch = tenant_leases.epoch + 1, \
                   acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at, \
                   changes = tenant_leases.changes + 1 \
                 WHERE tenant_leases.node IS NULL OR tenant_leases.node = EXCLUDED.node \
                   OR tenant_leases.expires_at < clock_timestamp() \
                 RETURNING epoch",
                &[&tenant, &node, &(millis(ttl) as f64)],
            )
            .map_err(|e| map_error(&self.redacted, "take a tenant lease", e))?;
        Ok(row.map(|row| Lease {
            node: self.node.clone(),
            epoch: row.get(0),
        }))
    }

    /// Extends the leases of these tenants that this node holds by `ttl`; returns the tenants and epochs it still
    /// holds. A tenant missing here (or with another epoch) was taken over. Leases left by an earlier run of the
    /// node are not renewed: they expire unless this node takes them again.
    pub fn renew(
        &mut self,
        tenants: &[String],
        ttl: Duration,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let node = self.node.clone();
        let node: &str = &node;
        Ok(self
            .client()
            .query(
                "UPDATE tenant_leases SET expires_at = clock_timestamp() + $2::float8 * interval '1 millisecond' \
                 WHERE node = $1 AND tenant = ANY($3) RETURNING tenant, epoch",
                &[&node, &(millis(ttl) as f64), &tenants],
            )
            .map_err(|e| map_error(&self.redacted, "renew the tenant leases", e))?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    /// Gives a lease up (graceful hand-over): the next node may take it at once. False if it was not held.
    pub fn release(&mut self, tenant: &str, lease: &Lease) -> Result<bool, StoreError> {
        let node: &str = &lease.node;
        let changed = self
            .client()
            .execute(
                "UPDATE tenant_leases SET node = NULL, expires_at = clock_timestamp(), \
                   changes = changes + 1 \
                 WHERE tenant = $1 AND node = $2 AND epoch = $3",
                &[&tenant, &node, &lease.epoch],
            )
            .map_err(|e| map_error(&self.redacted, "release a tenant lease", e))?;
        Ok(changed > 0)
    }
}
