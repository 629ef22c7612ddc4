//! The token cache in the OS keyring on Linux: the freedesktop Secret
//! Service API over the D-Bus session bus (GNOME Keyring, KWallet,
//! KeePassXC), as msal-extensions' `LibsecretPersistence` keeps it, so
//! programs of either library find the same entry:
//!
//! - one item in the default collection (alias `default`), found by its
//!   attributes: `xdg:schema` = the schema name (libsecret adds it; by
//!   default the SHA-256 hex of the signal file's path, msal-extensions'
//!   default) plus any of the caller's (azure-identity adds
//!   `MsalClientID`), with a label for keyring viewers;
//! - the secret is the unified JSON, content type `text/plain`, as
//!   libsecret's `password_store` writes it;
//! - a signal file, emptied and touched after each save: its modification
//!   time tells other processes to reload, and the cross-process lock is
//!   `<signal file>.lockfile`. It never holds a token.
//!
//! Why a "plain" Secret Service session: the encrypted one
//! (`dh-ietf1024-sha256-aes128-cbc-pkcs7`) needs 1024-bit modular
//! Diffie-Hellman, which the workspace's one crypto stack (aws-lc-rs) does
//! not expose, so it would bring a second big-number crypto crate. The
//! plain session only matters on the session bus itself, a per-user
//! socket the daemon checks the peer's uid on; the keyring still encrypts
//! the entry at rest with the user's login password.
//!
//! Every operation runs on a thread of its own with a small runtime
//! (so it may be called from anywhere, async context included) and is
//! bounded by [`KeyringOptions::timeout`]: a hung or missing daemon is a
//! typed [`KeyringError`], never a hang. A locked collection is unlocked
//! when the keyring can do it without asking; a password prompt is never
//! shown ([`KeyringError::Locked`]). The received JSON is zeroized once
//! parsed; the D-Bus message buffers are zbus's and are not.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zeroize::Zeroizing;

use super::TokenCache;
use super::persistence::{FilePersistence, Persistence, modified_time};
use crate::error::{CacheError, KeyringError};

const SECRETS: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE: &str = "org.freedesktop.Secret.Service";
const COLLECTION: &str = "org.freedesktop.Secret.Collection";
const ITEM: &str = "org.freedesktop.Secret.Item";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// The attribute libsecret adds to every item it stores with a schema.
const SCHEMA_ATTRIBUTE: &str = "xdg:schema";
/// The D-Bus path meaning "none" (no prompt needed, no such alias).
const NONE: &str = "/";

/// How long a keyring operation may take by default, start to end.
pub const DEFAULT_KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// How the keyring entry is named and how long the keyring is waited for.
/// The defaults are msal-extensions' (`LibsecretPersistence(location)`).
#[derive(Clone, Debug)]
pub struct KeyringOptions {
    schema: Option<String>,
    attributes: BTreeMap<String, String>,
    label: String,
    alias: String,
    create_collection: bool,
    timeout: Duration,
    bus_address: Option<String>,
}

impl Default for KeyringOptions {
    fn default() -> Self {
        KeyringOptions {
            schema: None,
            attributes: BTreeMap::new(),
            label: "MSAL token cache".to_owned(),
            alias: "default".to_owned(),
            create_collection: true,
            timeout: DEFAULT_KEYRING_TIMEOUT,
            bus_address: None,
        }
    }
}

impl KeyringOptions {
    /// The schema name (`xdg:schema`) [default: the SHA-256 hex of the
    /// signal file's path, as msal-extensions derives it].
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// An attribute the entry is stored and found by, e.g.
    /// `("MsalClientID", "Microsoft.Developer.IdentityService")`.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// The label keyring viewers show (not used to find the entry).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The alias of the collection to store into [default: `default`].
    pub fn collection_alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = alias.into();
        self
    }

    /// Whether a missing collection is created [default: yes; a keyring
    /// that needs a password prompt for it answers
    /// [`KeyringError::NoCollection`]].
    pub fn create_collection(mut self, create: bool) -> Self {
        self.create_collection = create;
        self
    }

    /// The D-Bus address of the bus to use [default: the session bus,
    /// `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`].
    pub fn bus_address(mut self, address: impl Into<String>) -> Self {
        self.bus_address = Some(address.into());
        self
    }

    /// The longest a load, save or probe may take [default
    /// [`DEFAULT_KEYRING_TIMEOUT`]].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A token cache in the Secret Service keyring, with a signal file (see the
/// module documentation). Creating one does no I/O; [`probe`](Self::probe)
/// tells whether the keyring is usable.
#[derive(Clone, Debug)]
pub struct KeyringPersistence {
    signal: PathBuf,
    schema: String,
    options: KeyringOptions,
}

impl KeyringPersistence {
    /// The entry msal-extensions' `LibsecretPersistence(signal_location)`
    /// uses, with `signal_location` as the signal file.
    pub fn new(signal_location: impl Into<PathBuf>) -> Self {
        KeyringPersistence::with_options(signal_location, KeyringOptions::default())
    }

    /// An entry named by `options`.
    pub fn with_options(signal_location: impl Into<PathBuf>, options: KeyringOptions) -> Self {
        let signal = signal_location.into();
        let schema = options.schema.clone().unwrap_or_else(|| {
            // msal-extensions hashes the location string it was given.
            let digest = Sha256::digest(signal.to_string_lossy().as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        });
        KeyringPersistence {
            signal,
            schema,
            options,
        }
    }

    /// The signal file.
    pub fn signal_file(&self) -> &Path {
        &self.signal
    }

    /// The attributes the entry is stored and found by, `xdg:schema` included.
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut attributes = self.options.attributes.clone();
        attributes.insert(SCHEMA_ATTRIBUTE.to_owned(), self.schema.clone());
        attributes
    }

    /// Checks that the keyring can be used: a session bus, a Secret
    /// Service on it, and the collection there (created if allowed) and
    /// unlocked without a prompt. Stores no entry.
    pub fn probe(&self) -> Result<(), CacheError> {
        self.run("probe", |session| async move {
            session.collection(&self.options).await.map(drop)
        })
        .map_err(CacheError::from)
    }

    /// This store when [`probe`](Self::probe) succeeds; otherwise, as Azure
    /// CLI and azure-identity do when asked to allow it, `fallback` (a
    /// plain, unencrypted file), with a warning naming that file and why.
    pub fn or_plaintext_fallback(self, fallback: FilePersistence) -> Box<dyn Persistence> {
        match self.probe() {
            Ok(()) => Box::new(self),
            Err(error) => {
                tracing::warn!(
                    file = %fallback.path().display(),
                    %error,
                    "the OS keyring is unusable; the token cache is stored UNENCRYPTED in {}",
                    fallback.path().display()
                );
                Box::new(fallback)
            }
        }
    }

    /// Removes the entry (msal-extensions' `clear`); whether there was one.
    pub fn clear(&self) -> Result<bool, CacheError> {
        self.run("clear", |session| async move {
            let attributes = self.attributes();
            let (unlocked, locked) = session.search(&attributes).await?;
            let mut removed = false;
            for item in unlocked.iter().chain(&locked) {
                let (prompt,): (OwnedObjectPath,) = session
                    .call(item.as_str(), ITEM, "Delete", &(), "deleting the entry")
                    .await?;
                if prompt.as_str() != NONE {
                    return Err(KeyringError::Locked {
                        collection: item.to_string(),
                    });
                }
                removed = true;
            }
            Ok(removed)
        })
        .map_err(CacheError::from)
    }

    /// Runs `work` on a thread of its own, with a runtime of its own and a
    /// connection opened for it, within the timeout.
    fn run<'s, T, F, W>(&'s self, operation: &'static str, work: W) -> Result<T, KeyringError>
    where
        T: Send,
        W: FnOnce(Session) -> F + Send + 's,
        F: Future<Output = Result<T, KeyringError>> + 's,
    {
        let timeout = self.options.timeout;
        let address = self.options.bus_address.as_deref();
        let attempt = move || -> Result<T, KeyringError> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| KeyringError::Failed {
                    operation: operation.to_owned(),
                    reason: format!("cannot start a runtime: {e}"),
                })?;
            runtime.block_on(async move {
                let bounded = async move {
                    let session = Session::open(address, timeout).await?;
                    work(session).await
                };
                tokio::time::timeout(timeout, bounded).await.unwrap_or_else(|_| {
                    Err(KeyringError::Timeout {
                        operation: operation.to_owned(),
                        after: timeout,
                    })
                })
            })
        };
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("msal-keyring".to_owned())
                .spawn_scoped(scope, attempt)
                .map_err(|e| KeyringError::Failed {
                    operation: operation.to_owned(),
                    reason: format!("cannot start a thread: {e}"),
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(KeyringError::Failed {
                        operation: operation.to_owned(),
                        reason: "the keyring thread stopped unexpectedly".to_owned(),
                    })
                })
        })
    }

    /// Empties and touches the signal file (owner-only when created).
    fn touch_signal(&self) -> Result<(), CacheError> {
        let io_error = |e: io::Error| CacheError::Io {
            path: self.signal.display().to_string(),
            source: std::sync::Arc::new(e),
        };
        if let Some(dir) = self.signal.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_error)?;
        }
        let mut options = fs::OpenOptions::new();
        // Emptied: a plaintext cache once kept at this path must not
        // outlive the move to the keyring.
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&self.signal).map_err(io_error)?;
        // Explicitly: truncating an empty file need not change its time.
        file.set_modified(SystemTime::now()).map_err(io_error)
    }
}

impl Persistence for KeyringPersistence {
    fn load(&self) -> Result<Option<TokenCache>, CacheError> {
        let secret = self.run("load", |session| async move {
            let (unlocked, locked) = session.search(&self.attributes()).await?;
            let item = match (unlocked.first(), locked.first()) {
                (Some(item), _) => item.clone(),
                (None, Some(item)) => {
                    session.unlock(item).await?;
                    item.clone()
                }
                (None, None) => return Ok(None),
            };
            let ((_, _, value, _),): ((OwnedObjectPath, Vec<u8>, Vec<u8>, String),) = session
                .call(
                    item.as_str(),
                    ITEM,
                    "GetSecret",
                    &(&session.path,),
                    "reading the entry",
                )
                .await?;
            Ok(Some(Zeroizing::new(value)))
        })?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let json =
            std::str::from_utf8(&secret).map_err(|e| KeyringError::Corrupt(format!("not UTF-8 ({e})")))?;
        TokenCache::from_json(json).map(Some)
    }

    fn save(&self, cache: &TokenCache) -> Result<(), CacheError> {
        let json = Zeroizing::new(cache.serialize());
        self.run("save", |session| {
            let json = &json;
            async move {
                let collection = session.collection(&self.options).await?;
                let attributes: HashMap<String, String> = self.attributes().into_iter().collect();
                let mut properties: HashMap<&str, Value<'_>> = HashMap::new();
                properties.insert(
                    "org.freedesktop.Secret.Item.Label",
                    Value::from(self.options.label.as_str()),
                );
                properties.insert("org.freedesktop.Secret.Item.Attributes", Value::from(attributes));
                let secret = (&session.path, Vec::<u8>::new(), json.as_bytes(), "text/plain");
                let (_item, prompt): (OwnedObjectPath, OwnedObjectPath) = session
                    .call(
                        collection.as_str(),
                        COLLECTION,
                        "CreateItem",
                        &(properties, secret, true),
                        "storing the entry",
                    )
                    .await?;
                if prompt.as_str() != NONE {
                    return Err(KeyringError::Locked {
                        collection: collection.to_string(),
                    });
                }
                Ok(())
            }
        })?;
        // After the entry is stored, so a reader woken by it finds it.
        self.touch_signal()
    }

    fn modified(&self) -> Result<Option<SystemTime>, CacheError> {
        modified_time(&self.signal)
    }

    fn location(&self) -> String {
        format!(
            "the OS keyring (Secret Service, '{}' collection, schema {}; signal file {})",
            self.options.alias,
            self.schema,
            self.signal.display()
        )
    }

    fn lock_path(&self) -> &Path {
        &self.signal
    }

    fn is_encrypted(&self) -> bool {
        true
    }
}

/// A connection to the session bus with an open Secret Service session.
struct Session {
    connection: zbus::Connection,
    path: OwnedObjectPath,
    /// Each call's bound, named in a timeout error.
    timeout: Duration,
}

impl Session {
    async fn open(address: Option<&str>, timeout: Duration) -> Result<Session, KeyringError> {
        let from_env = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
        let no_session = |e: zbus::Error| KeyringError::NoSession {
            reason: match address {
                Some(address) => format!("the bus at {address} does not answer: {e}"),
                None if from_env => format!("DBUS_SESSION_BUS_ADDRESS does not answer: {e}"),
                None => {
                    format!("DBUS_SESSION_BUS_ADDRESS is not set, and the default bus does not answer: {e}")
                }
            },
        };
        let builder = match address {
            Some(address) => zbus::connection::Builder::address(address),
            None => zbus::connection::Builder::session(),
        };
        let connection = builder
            .map_err(no_session)?
            .method_timeout(timeout)
            .build()
            .await
            .map_err(no_session)?;
        let mut session = Session {
            connection,
            path: OwnedObjectPath::default(),
            timeout,
        };
        let (_, path): (OwnedValue, OwnedObjectPath) = session
            .call(
                SERVICE_PATH,
                SERVICE,
                "OpenSession",
                &("plain", Value::from("")),
                "opening a session",
            )
            .await?;
        session.path = path;
        Ok(session)
    }

    /// Calls `method` and reads its reply as `R`, the errors classified.
    async fn call<B, R>(
        &self,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
        operation: &str,
    ) -> Result<R, KeyringError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    {
        let reply = self
            .connection
            .call_method(Some(SECRETS), path, Some(interface), method, body)
            .await
            .map_err(|e| classify(e, operation, self.timeout))?;
        reply.body().deserialize().map_err(|e| KeyringError::Failed {
            operation: operation.to_owned(),
            reason: format!("unexpected reply: {e}"),
        })
    }

    /// The items with exactly these attributes: (unlocked, locked).
    async fn search(
        &self,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>), KeyringError> {
        let attributes: HashMap<&str, &str> =
            attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.call(
            SERVICE_PATH,
            SERVICE,
            "SearchItems",
            &(attributes,),
            "searching for the entry",
        )
        .await
    }

    /// Unlocks `object` if that needs no prompt.
    async fn unlock(&self, object: &OwnedObjectPath) -> Result<(), KeyringError> {
        let (_, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = self
            .call(
                SERVICE_PATH,
                SERVICE,
                "Unlock",
                &(vec![object],),
                "unlocking the collection",
            )
            .await?;
        if prompt.as_str() == NONE {
            Ok(())
        } else {
            // A prompt would ask the user for a password: not from here.
            Err(KeyringError::Locked {
                collection: object.to_string(),
            })
        }
    }

    /// The collection behind the options' alias, created if missing and
    /// allowed, unlocked.
    async fn collection(&self, options: &KeyringOptions) -> Result<OwnedObjectPath, KeyringError> {
        let (found,): (OwnedObjectPath,) = self
            .call(
                SERVICE_PATH,
                SERVICE,
                "ReadAlias",
                &(options.alias.as_str(),),
                "finding the collection",
            )
            .await?;
        let collection = if found.as_str() != NONE {
            found
        } else if options.create_collection {
            let mut properties: HashMap<&str, Value<'_>> = HashMap::new();
            properties.insert(
                "org.freedesktop.Secret.Collection.Label",
                Value::from("Default keyring"),
            );
            let (created, prompt): (OwnedObjectPath, OwnedObjectPath) = self
                .call(
                    SERVICE_PATH,
                    SERVICE,
                    "CreateCollection",
                    &(properties, options.alias.as_str()),
                    "creating the collection",
                )
                .await?;
            if prompt.as_str() != NONE || created.as_str() == NONE {
                return Err(KeyringError::NoCollection {
                    alias: options.alias.clone(),
                });
            }
            created
        } else {
            return Err(KeyringError::NoCollection {
                alias: options.alias.clone(),
            });
        };
        let (locked,): (OwnedValue,) = self
            .call(
                collection.as_str(),
                PROPERTIES,
                "Get",
                &(COLLECTION, "Locked"),
                "reading the collection's state",
            )
            .await?;
        if bool::try_from(locked).unwrap_or(true) {
            self.unlock(&collection).await?;
        }
        Ok(collection)
    }
}

/// What a failed D-Bus call means for the user.
fn classify(error: zbus::Error, operation: &str, timeout: Duration) -> KeyringError {
    let (name, message) = match &error {
        zbus::Error::MethodError(name, message, _) => (name.to_string(), message.clone().unwrap_or_default()),
        zbus::Error::FDO(fdo) => {
            use zbus::DBusError as _;
            (
                fdo.name().to_string(),
                fdo.description().unwrap_or_default().to_owned(),
            )
        }
        zbus::Error::InputOutput(io) if io.kind() == io::ErrorKind::TimedOut => {
            return KeyringError::Timeout {
                operation: operation.to_owned(),
                after: timeout,
            };
        }
        other => {
            return KeyringError::Failed {
                operation: operation.to_owned(),
                reason: other.to_string(),
            };
        }
    };
    match name.as_str() {
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            KeyringError::NoService {
                reason: format!("{name}: {message}"),
            }
        }
        "org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout" => {
            KeyringError::Timeout {
                operation: operation.to_owned(),
                after: timeout,
            }
        }
        "org.freedesktop.Secret.Error.IsLocked" => KeyringError::Locked { collection: message },
        _ => KeyringError::Failed {
            operation: operation.to_owned(),
            reason: format!("{name}: {message}"),
        },
    }
}
