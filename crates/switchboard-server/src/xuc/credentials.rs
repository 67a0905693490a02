//! CTI credentials: a user's login, password hash (argon2id), xuc profile and supervision lists, and the
//! tokens handed out by `POST /xuc/api/2.0/auth/login`.
//!
//! Credentials are stored as configuration entries of a server-wide pseudo-tenant (logins are unique across the
//! server, since the xuc login carries no tenant) and cached in memory: a login or a socket handshake never waits
//! for the database. Tokens live in memory only: after a restart agents sign in again, as they must anyway
//! (sessions are logged out by recovery). Changing or removing a user's credentials revokes its tokens at once.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};
use switchboard_core::AgentId;
use switchboard_store::{Store, StoreError};

/// The pseudo-tenant and entry kind credentials are stored under.
const TENANT: &str = "";
const KIND: &str = "cti_login";

/// What a CTI user may see and command (seed 004).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CtiProfile {
    /// Itself only (xuc `NoRight`). The default.
    Agent,
    /// The queues and agent groups of its lists.
    Supervisor,
    /// Everything.
    Admin,
}

impl CtiProfile {
    /// The name in `RightProfile`.
    pub fn xuc_name(self) -> &'static str {
        match self {
            CtiProfile::Agent => "NoRight",
            CtiProfile::Supervisor => "Supervisor",
            CtiProfile::Admin => "Admin",
        }
    }

    /// Parses `Agent`, `NoRight`, `Supervisor` or `Admin` (case-insensitive).
    pub fn parse(name: &str) -> Option<CtiProfile> {
        match name.to_ascii_lowercase().as_str() {
            "agent" | "noright" => Some(CtiProfile::Agent),
            "supervisor" => Some(CtiProfile::Supervisor),
            "admin" => Some(CtiProfile::Admin),
            _ => None,
        }
    }
}

/// One user's CTI credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtiUser {
    /// The login, as given (matched case-insensitively).
    pub login: String,
    /// The tenant the user belongs to.
    pub tenant: String,
    /// The engine agent the user is.
    pub agent: AgentId,
    /// argon2id PHC string.
    pub password_hash: String,
    /// What it may see and command.
    pub profile: CtiProfile,
    /// Supervisor: the services (queues) it watches.
    pub queues: Vec<switchboard_core::ServiceId>,
    /// Supervisor: the agent groups it watches.
    pub groups: Vec<u32>,
}

/// A signed-in CTI user, as a token names it.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    /// The user's login (key into the directory).
    pub login: String,
    /// When the token stops working.
    pub expires: Instant,
    /// Set for a token traded for an API key: a read-only session that watches the key's tenant.
    pub watcher: Option<Watcher>,
}

/// A read-only CTI session opened with an API key (wallboards without a CTI login): it sees every queue and
/// agent of the key's tenant and may not command anything. It lasts while the key stays valid.
#[derive(Clone, Debug)]
pub struct Watcher {
    /// The session's user: no engine agent (a nil id), the `Admin` profile for what it sees.
    pub user: CtiUser,
    /// The SHA-256 of the API key, to check that the key still works.
    pub key_hash: String,
    /// The key's id, under which the session counts as one of the key's open streams.
    pub key_id: String,
}

/// The in-memory directory of CTI users and their tokens.
#[derive(Default)]
pub struct CtiDirectory {
    users: RwLock<HashMap<String, CtiUser>>,
    tokens: RwLock<HashMap<String, TokenGrant>>,
}

/// Why a login or a token was refused (xuc error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown login or wrong password (never says which).
    InvalidCredentials,
    /// The token expired.
    TokenExpired,
    /// The token is unknown or was revoked.
    InvalidToken,
}

impl AuthFailure {
    /// The xuc error code.
    pub fn code(self) -> &'static str {
        match self {
            AuthFailure::InvalidCredentials => "InvalidCredentials",
            AuthFailure::TokenExpired => "TokenExpired",
            AuthFailure::InvalidToken => "InvalidToken",
        }
    }
}

/// Argon2 work memory (19 MiB a hash with the default parameters), reused. Allocated per hash, it made the
/// server's memory grow without bound under parallel sign-ins (the allocator kept the freed blocks per thread:
/// 8 parallel clients took the process from 111 MB to 910 MB in 160 sign-ins). At most `MAX_HASHERS` hashes run
/// at once, which also bounds the CPU a burst of sign-ins can take from routing; the others wait for a buffer.
struct MemoryPool {
    free: Vec<Vec<Block>>,
    allocated: usize,
}

const MAX_HASHERS: usize = 4;
static POOL: Mutex<MemoryPool> = Mutex::new(MemoryPool {
    free: Vec::new(),
    allocated: 0,
});
static RETURNED: Condvar = Condvar::new();

/// Runs `f` with `blocks` blocks of argon2 memory from the pool.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut buffer = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(buffer) = pool.free.pop() {
                break buffer;
            }
            if pool.allocated < MAX_HASHERS {
                pool.allocated += 1;
                break Vec::new();
            }
            pool = RETURNED.wait(pool).unwrap_or_else(|e| e.into_inner());
        }
    };
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::default());
    }
    let result = f(&mut buffer[..blocks]);
    POOL.lock()
        .unwrap_or_else(|e| e.into_inner())
        .free
        .push(buffer);
    RETURNED.notify_one();
    result
}

/// Argon2id of `password` and `salt` with `argon2`'s parameters, into an output of `len` bytes.
fn argon2_output(
    argon2: &Argon2,
    params: &Params,
    password: &str,
    salt: &[u8],
    len: usize,
) -> Option<Output> {
    Output::init_with(len, |out| {
        with_memory(params.block_count(), |memory| {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt, out, memory)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
    })
    .ok()
}

/// Hashes a password with argon2id (default parameters) and a random salt, in the PHC string format.
pub fn hash_password(password: &str) -> String {
    // A v4 UUID is 122 bits from the operating system's generator: a good salt.
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .expect("16 bytes make a valid salt");
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .expect("a salt just encoded decodes");
    let output = argon2_output(
        &argon2,
        &params,
        password,
        salt_bytes,
        Params::DEFAULT_OUTPUT_LEN,
    )
    .expect("argon2 hashes any password with default parameters");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("default parameters format"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// Checks a password against a PHC string (compared in constant time).
fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map(Version::try_from)
        .unwrap_or(Ok(Version::V0x13))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    argon2_output(&argon2, &params, password, salt, expected.len()) == Some(expected)
}

/// A new token: the tenant (hex, so that any node can tell whose it is and pass the socket to the tenant's
/// node), a dot, and 256 random bits.
fn new_token(tenant: &str) -> String {
    let hex: String = tenant.bytes().map(|b| format!("{b:02x}")).collect();
    format!(
        "{hex}.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The tenant a token was handed out for (tokens are only valid on the node that handed them out, which leads
/// the tenant; the name lets another node pass the request there).
pub fn token_tenant(token: &str) -> Option<String> {
    let (hex, _) = token.split_once('.')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl CtiDirectory {
    /// Reads every stored credential again (in a cluster, another node may have changed them); tokens stay.
    pub fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let fresh = CtiDirectory::load(store)?;
        let users = std::mem::take(&mut *fresh.users.write().unwrap_or_else(|e| e.into_inner()));
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = users;
        Ok(())
    }

    /// Loads every stored credential.
    pub fn load(store: &Store) -> Result<CtiDirectory, StoreError> {
        let directory = CtiDirectory::default();
        {
            let mut users = directory.users.write().unwrap_or_else(|e| e.into_inner());
            for (id, body) in store.list_entries(TENANT, KIND)? {
                let user: CtiUser = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("CTI login '{id}': {e}")))?;
                users.insert(id, user);
            }
        }
        Ok(directory)
    }

    /// The user with this login.
    pub fn user(&self, login: &str) -> Option<CtiUser> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&login.to_lowercase())
            .cloned()
    }

    /// The credentials of an agent of a tenant.
    pub fn user_of(&self, tenant: &str, agent: AgentId) -> Option<CtiUser> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|u| u.tenant == tenant && u.agent == agent)
            .cloned()
    }

    /// Stores a user's credentials (replacing the agent's previous ones, whatever their login) and revokes its
    /// tokens. Blocking: call from `spawn_blocking`.
    pub fn put(&self, store: &Store, user: CtiUser) -> Result<(), StoreError> {
        let key = user.login.to_lowercase();
        if let Some(existing) = self.user(&key) {
            if existing.tenant != user.tenant || existing.agent != user.agent {
                return Err(StoreError::Conflict(format!(
                    "the login '{}' belongs to another user",
                    user.login
                )));
            }
        }
        let previous = self.user_of(&user.tenant, user.agent);
        let body = serde_json::to_string(&user).expect("a CTI user serialises");
        store.put_entry(TENANT, KIND, &key, &body)?;
        if let Some(previous) = &previous {
            let old_key = previous.login.to_lowercase();
            if old_key != key {
                store.delete_entry(TENANT, KIND, &old_key)?;
            }
        }
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = previous {
            users.remove(&previous.login.to_lowercase());
            self.revoke(&previous.login);
        }
        users.insert(key, user);
        Ok(())
    }

    /// Removes an agent's credentials and revokes its tokens; false if it had none.
    pub fn remove(&self, store: &Store, tenant: &str, agent: AgentId) -> Result<bool, StoreError> {
        let Some(user) = self.user_of(tenant, agent) else {
            return Ok(false);
        };
        let key = user.login.to_lowercase();
        store.delete_entry(TENANT, KIND, &key)?;
        self.users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.revoke(&user.login);
        Ok(true)
    }

    /// Checks a login and password and hands out a token valid for `ttl`.
    pub fn sign_in(
        &self,
        login: &str,
        password: &str,
        ttl: Duration,
    ) -> Result<(CtiUser, String), AuthFailure> {
        let user = self.user(login).ok_or(AuthFailure::InvalidCredentials)?;
        if !verify_password(password, &user.password_hash) {
            return Err(AuthFailure::InvalidCredentials);
        }
        let token = new_token(&user.tenant);
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        tokens.retain(|_, grant| grant.expires > now);
        tokens.insert(
            token.clone(),
            TokenGrant {
                login: user.login.to_lowercase(),
                expires: now + ttl,
                watcher: None,
            },
        );
        Ok((user, token))
    }

    /// Hands out a token for a read-only session of an API key's tenant (see `Watcher`), valid for `ttl`.
    pub fn watch(&self, tenant: &str, key_id: &str, key_hash: &str, ttl: Duration) -> String {
        let token = new_token(tenant);
        let user = CtiUser {
            login: format!("api key {key_id}"),
            tenant: tenant.to_string(),
            agent: AgentId(uuid::Uuid::nil()),
            password_hash: String::new(),
            profile: CtiProfile::Admin,
            queues: Vec::new(),
            groups: Vec::new(),
        };
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        tokens.retain(|_, grant| grant.expires > now);
        tokens.insert(
            token.clone(),
            TokenGrant {
                login: user.login.clone(),
                expires: now + ttl,
                watcher: Some(Watcher {
                    user,
                    key_hash: key_hash.to_string(),
                    key_id: key_id.to_string(),
                }),
            },
        );
        token
    }

    /// The user a token belongs to, if the token is valid now.
    pub fn check(&self, token: &str) -> Result<(CtiUser, TokenGrant), AuthFailure> {
        let grant = self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
            .ok_or(AuthFailure::InvalidToken)?;
        if grant.expires <= Instant::now() {
            return Err(AuthFailure::TokenExpired);
        }
        if let Some(watcher) = &grant.watcher {
            return Ok((watcher.user.clone(), grant.clone()));
        }
        let user = self.user(&grant.login).ok_or(AuthFailure::InvalidToken)?;
        Ok((user, grant))
    }

    fn revoke(&self, login: &str) {
        let key = login.to_lowercase();
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, grant| grant.login != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn tokens_name_their_tenant() {
        for tenant in ["default", "ACME ünïcode.with.dots", ""] {
            let token = new_token(tenant);
            assert_eq!(token_tenant(&token).as_deref(), Some(tenant));
            assert!(token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.'));
        }
        assert_eq!(token_tenant("no-dot-here"), None);
        assert_eq!(token_tenant("zz.abc"), None);
        assert_eq!(token_tenant("abc.def"), None);
    }

    #[test]
    fn pooled_hashes_are_standard_argon2id_phc_strings() {
        let ours = hash_password("correct horse");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(verify_password("correct horse", &ours));
        assert!(!verify_password("wrong horse", &ours));
        assert!(!verify_password("correct horse", "not a hash"));
        // The library's own verifier accepts our hash, and ours accepts the library's.
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("battery staple", &theirs));
        assert!(!verify_password("battery", &theirs));
    }
}
