//! Where the user commands' settings come from, and in which order: the
//! command line, then the environment (`MSAL_*`, then Azure's `AZURE_*`),
//! then the config file (`--config FILE`, else
//! `$XDG_CONFIG_HOME/msal/config.toml`), then what `msal login`
//! remembered. Each setting is looked up on its own, so a file can hold the
//! client id while the environment names the tenant.
//!
//! The config file is TOML with the keys of [`ConfigFile`]; unknown keys
//! are refused (a typo must not be silently ignored). Relative paths in it
//! are relative to the file. It holds no secret: secrets come from files
//! it names, or the environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use msal::Error;
use serde::Deserialize;

use crate::cache_file::StoreKind;

/// The config file's name inside `$XDG_CONFIG_HOME/msal`.
const CONFIG_FILE_NAME: &str = "config.toml";

/// The environment variables the settings are read from.
pub(crate) mod env {
    /// The application (client) id.
    pub(crate) const CLIENT_ID: &str = "MSAL_CLIENT_ID";
    /// The authority URL.
    pub(crate) const AUTHORITY: &str = "MSAL_AUTHORITY";
    /// The tenant asked instead of the authority's own (`--tenant`).
    pub(crate) const TENANT: &str = "MSAL_TENANT";
    /// Azure SDK's client id, used when `MSAL_CLIENT_ID` is unset.
    pub(crate) const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
    /// Azure SDK's tenant: with `AZURE_AUTHORITY_HOST`, an authority.
    pub(crate) const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
    /// Azure SDK's authority host (`login.microsoftonline.com` unless set).
    pub(crate) const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
    /// Every variable above, read once at start.
    pub(super) const ALL: [&str; 6] = [
        CLIENT_ID,
        AUTHORITY,
        TENANT,
        AZURE_CLIENT_ID,
        AZURE_TENANT_ID,
        AZURE_AUTHORITY_HOST,
    ];
}

/// Azure's public cloud, the authority host when `AZURE_AUTHORITY_HOST` is unset.
const AZURE_PUBLIC_HOST: &str = "login.microsoftonline.com";

/// The options every command working on the token cache shares.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct CacheArgs {
    /// Where the token cache is: a file in the unified MSAL format (shared
    /// with MSAL Python and the other MSALs), or a Redis server,
    /// redis://[:PASSWORD@]HOST:PORT/DB, holding the whole cache under one
    /// key [config: cache; default: $XDG_CACHE_HOME/msal/token_cache.json,
    /// else $HOME/.cache/msal/token_cache.json].
    // The value is not shown in --help: a Redis URL may carry a password.
    #[arg(long, value_name = "FILE|URL", env = "MSAL_CACHE", hide_env_values = true)]
    pub cache: Option<PathBuf>,
    /// The config file (TOML; see the README for its keys) [default:
    /// $XDG_CONFIG_HOME/msal/config.toml, else $HOME/.config/msal/config.toml,
    /// if it exists].
    #[arg(long, value_name = "FILE", env = "MSAL_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The config file's keys. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// The application (client) id (`--client-id`).
    pub client_id: Option<String>,
    /// The authority URL (`--authority`).
    pub authority: Option<String>,
    /// The tenant to ask (`msal token --tenant`).
    pub tenant: Option<String>,
    /// The token cache: a file or a `redis://` URL (`--cache`).
    pub cache: Option<String>,
    /// `file` or `keyring` (`--cache-store`).
    pub cache_store: Option<StoreKind>,
    /// An extra CA certificate to trust (`--ca-cert`).
    pub ca_cert: Option<PathBuf>,
    /// `false` skips instance discovery (`--no-instance-discovery`).
    pub instance_discovery: Option<bool>,
    /// The trusted instance discovery endpoint (`--instance-discovery-endpoint`).
    pub instance_discovery_endpoint: Option<String>,
    /// A file holding the client secret (`--client-secret-file`).
    pub client_secret_file: Option<PathBuf>,
    /// A certificate with its private key, PEM or PKCS#12 (`--certificate`).
    pub certificate: Option<PathBuf>,
    /// A file holding the PKCS#12 passphrase (`--certificate-password-file`).
    pub certificate_password_file: Option<PathBuf>,
}

/// Where a setting came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The command line.
    Flag(&'static str),
    /// An environment variable (or two combined).
    Env(&'static str),
    /// A key of the config file.
    Config { key: &'static str, file: PathBuf },
    /// What `msal login` remembered.
    Remembered,
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(name) => write!(f, "the environment ({name})"),
            Origin::Config { key, file } => write!(f, "`{key}` in {}", file.display()),
            Origin::Remembered => f.write_str("what `msal login` remembered"),
            Origin::Default => f.write_str("the default"),
        }
    }
}

/// A setting's value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn new(value: T, origin: Origin) -> Self {
        Setting { value, origin }
    }
}

/// The environment and the config file, read once; the command line and
/// the remembered sign-ins are given to each lookup.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    env: BTreeMap<&'static str, String>,
    file: ConfigFile,
    /// The config file read, if any.
    path: Option<PathBuf>,
}

impl Settings {
    /// Reads the process environment and the config file: `explicit`
    /// (`--config`, which must exist) or the default one, if it exists.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Settings, Error> {
        let env = env::ALL
            .iter()
            .filter_map(|name| Some((*name, std::env::var(name).ok()?)))
            .collect();
        let path = match explicit {
            Some(path) => Some(path.to_owned()),
            None => default_config_path(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"))
                .filter(|path| path.exists()),
        };
        let file = match &path {
            Some(path) => read_config(path)?,
            None => ConfigFile::default(),
        };
        Ok(Settings { env, file, path })
    }

    /// Settings from these values, for tests.
    #[cfg(test)]
    fn from_parts(env: &[(&'static str, &str)], file: ConfigFile, path: &str) -> Settings {
        Settings {
            env: env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            file,
            path: Some(PathBuf::from(path)),
        }
    }

    /// A non-empty environment variable.
    fn var(&self, name: &'static str) -> Option<&str> {
        self.env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn config_origin(&self, key: &'static str) -> Origin {
        Origin::Config {
            key,
            file: self.path.clone().unwrap_or_default(),
        }
    }

    /// A string setting: the flag, else the variables in order, else the file's key.
    fn string(
        &self,
        flag: (&'static str, Option<&str>),
        vars: &[&'static str],
        key: &'static str,
        file_value: Option<&String>,
    ) -> Option<Setting<String>> {
        if let Some(value) = flag.1 {
            return Some(Setting::new(value.to_owned(), Origin::Flag(flag.0)));
        }
        for name in vars {
            if let Some(value) = self.var(name) {
                return Some(Setting::new(value.to_owned(), Origin::Env(name)));
            }
        }
        file_value
            .filter(|v| !v.trim().is_empty())
            .map(|v| Setting::new(v.trim().to_owned(), self.config_origin(key)))
    }

    /// The client id: `--client-id`, `MSAL_CLIENT_ID`, `AZURE_CLIENT_ID`, `client_id`.
    pub(crate) fn client_id(&self, flag: Option<&str>) -> Option<Setting<String>> {
        self.string(
            ("--client-id", flag),
            &[env::CLIENT_ID, env::AZURE_CLIENT_ID],
            "client_id",
            self.file.client_id.as_ref(),
        )
    }

    /// The authority: `--authority`, `MSAL_AUTHORITY`, `AZURE_TENANT_ID`
    /// on `AZURE_AUTHORITY_HOST`, `authority`.
    pub(crate) fn authority(&self, flag: Option<&str>) -> Option<Setting<String>> {
        let flag_or_msal = self.string(("--authority", flag), &[env::AUTHORITY], "", None);
        if flag_or_msal.is_some() {
            return flag_or_msal;
        }
        if let Some(tenant) = self.var(env::AZURE_TENANT_ID) {
            let host = self.var(env::AZURE_AUTHORITY_HOST).unwrap_or(AZURE_PUBLIC_HOST);
            return Some(Setting::new(
                azure_authority(host, tenant),
                Origin::Env("AZURE_TENANT_ID and AZURE_AUTHORITY_HOST"),
            ));
        }
        self.string(("", None), &[], "authority", self.file.authority.as_ref())
    }

    /// The tenant to ask: `--tenant`, `MSAL_TENANT`, `tenant`.
    pub(crate) fn tenant(&self, flag: Option<&str>) -> Option<Setting<String>> {
        self.string(
            ("--tenant", flag),
            &[env::TENANT],
            "tenant",
            self.file.tenant.as_ref(),
        )
    }

    /// The cache location: `--cache` (or `MSAL_CACHE`, which clap reads), `cache`.
    pub(crate) fn cache(&self, flag: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = flag {
            return Some(path.to_owned());
        }
        let value = self
            .file
            .cache
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())?;
        if crate::redis_cache::is_redis_url(value) {
            return Some(PathBuf::from(value));
        }
        Some(self.relative_to_file(Path::new(value)))
    }

    /// The store: `--cache-store` (or `MSAL_CACHE_STORE`), `cache_store`, a file.
    pub(crate) fn cache_store(&self, flag: Option<StoreKind>) -> StoreKind {
        flag.or(self.file.cache_store).unwrap_or_default()
    }

    /// The extra CA certificate: `--ca-cert`, `ca_cert`.
    pub(crate) fn ca_cert(&self, flag: Option<&Path>) -> Option<PathBuf> {
        flag.map(Path::to_owned)
            .or_else(|| self.file_path(self.file.ca_cert.as_deref()))
    }

    /// Whether instance discovery is off: `--no-instance-discovery`, or
    /// `instance_discovery = false`.
    pub(crate) fn no_instance_discovery(&self, flag: bool) -> bool {
        flag || self.file.instance_discovery == Some(false)
    }

    /// The trusted discovery endpoint: `--instance-discovery-endpoint` (or
    /// its variable, which clap reads), `instance_discovery_endpoint`.
    pub(crate) fn instance_discovery_endpoint(&self, flag: Option<&str>) -> Option<String> {
        flag.map(str::to_owned)
            .or_else(|| self.file.instance_discovery_endpoint.clone())
    }

    /// The client secret file from the config file.
    pub(crate) fn client_secret_file(&self) -> Option<Setting<PathBuf>> {
        self.file_path(self.file.client_secret_file.as_deref())
            .map(|p| Setting::new(p, self.config_origin("client_secret_file")))
    }

    /// The certificate from the config file.
    pub(crate) fn certificate(&self) -> Option<Setting<PathBuf>> {
        self.file_path(self.file.certificate.as_deref())
            .map(|p| Setting::new(p, self.config_origin("certificate")))
    }

    /// The PKCS#12 passphrase file from the config file.
    pub(crate) fn certificate_password_file(&self) -> Option<PathBuf> {
        self.file_path(self.file.certificate_password_file.as_deref())
    }

    /// Where a missing setting could have come from, for messages.
    pub(crate) fn config_hint(&self, key: &str) -> String {
        match &self.path {
            Some(path) => format!("`{key}` in {}", path.display()),
            None => format!("`{key}` in the config file ($XDG_CONFIG_HOME/msal/config.toml or --config)"),
        }
    }

    fn file_path(&self, value: Option<&Path>) -> Option<PathBuf> {
        value
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| self.relative_to_file(p))
    }

    /// `path` taken relative to the config file's directory.
    fn relative_to_file(&self, path: &Path) -> PathBuf {
        match self.path.as_deref().and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }
}

/// `https://{host}/{tenant}`, where `host` may be given as Azure SDKs do,
/// with or without `https://` and a trailing slash.
fn azure_authority(host: &str, tenant: &str) -> String {
    let host = host.trim_end_matches('/');
    if host.contains("://") {
        format!("{host}/{tenant}")
    } else {
        format!("https://{host}/{tenant}")
    }
}

/// The default config file from `XDG_CONFIG_HOME` and `HOME`.
fn default_config_path(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    // The XDG base directory spec says relative values are invalid and must be ignored.
    let xdg = xdg_config_home.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("msal").join(CONFIG_FILE_NAME))
}

/// Reads and parses the config file at `path`.
fn read_config(path: &Path) -> Result<ConfigFile, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot read the config file {} ({e}): fix --config (or MSAL_CONFIG), or create the file",
            path.display()
        ))
    })?;
    parse_config(&text).map_err(|e| {
        Error::InvalidArgument(format!(
            "the config file {} is not valid: {e}(the README's \"The msal command\" lists its keys)",
            path.display()
        ))
    })
}

/// Parses a config file's text.
fn parse_config(text: &str) -> Result<ConfigFile, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/msal/config.toml";

    fn file() -> ConfigFile {
        parse_config(
            r#"
            client_id = "from-file"
            authority = "https://file.example/tenant"
            tenant = "file-tenant"
            cache = "cache.json"
            cache_store = "keyring"
            ca_cert = "/abs/ca.pem"
            instance_discovery = false
            client_secret_file = "secret.txt"
            "#,
        )
        .unwrap()
    }

    fn config(key: &'static str) -> Origin {
        Origin::Config {
            key,
            file: PathBuf::from(FILE),
        }
    }

    #[test]
    fn each_layer_overrides_the_next() {
        let full = Settings::from_parts(
            &[
                (env::CLIENT_ID, "msal-env"),
                (env::AZURE_CLIENT_ID, "azure-env"),
                (env::AUTHORITY, "https://msal.example/t"),
                (env::AZURE_TENANT_ID, "azure-tenant"),
                (env::TENANT, "env-tenant"),
            ],
            file(),
            FILE,
        );
        // Flags first.
        assert_eq!(
            full.client_id(Some("flag")).unwrap(),
            Setting::new("flag".to_owned(), Origin::Flag("--client-id"))
        );
        assert_eq!(full.authority(Some("https://f/t")).unwrap().value, "https://f/t");
        assert_eq!(full.tenant(Some("t")).unwrap().origin, Origin::Flag("--tenant"));
        // Then MSAL_*, before AZURE_*.
        assert_eq!(
            full.client_id(None).unwrap(),
            Setting::new("msal-env".to_owned(), Origin::Env(env::CLIENT_ID))
        );
        assert_eq!(full.authority(None).unwrap().value, "https://msal.example/t");
        assert_eq!(full.tenant(None).unwrap().value, "env-tenant");

        let azure = Settings::from_parts(
            &[
                (env::AZURE_CLIENT_ID, "azure-env"),
                (env::AZURE_TENANT_ID, "azure-tenant"),
                (env::AZURE_AUTHORITY_HOST, "https://login.microsoftonline.us/"),
                (env::CLIENT_ID, "  "),
            ],
            file(),
            FILE,
        );
        assert_eq!(azure.client_id(None).unwrap().value, "azure-env");
        assert_eq!(
            azure.authority(None).unwrap().value,
            "https://login.microsoftonline.us/azure-tenant"
        );
        // Then the file.
        assert_eq!(
            azure.tenant(None).unwrap(),
            Setting::new("file-tenant".into(), config("tenant"))
        );
        let file_only = Settings::from_parts(&[], file(), FILE);
        assert_eq!(
            file_only.client_id(None).unwrap(),
            Setting::new("from-file".into(), config("client_id"))
        );
        assert_eq!(
            file_only.authority(None).unwrap(),
            Setting::new("https://file.example/tenant".into(), config("authority"))
        );
        // Then nothing (the caller's remembered sign-in or default).
        let nothing = Settings::from_parts(&[], ConfigFile::default(), FILE);
        assert_eq!(nothing.client_id(None), None);
        assert_eq!(nothing.authority(None), None);
        assert_eq!(nothing.tenant(None), None);
    }

    #[test]
    fn azure_tenant_alone_is_on_the_public_cloud_and_a_host_alone_is_nothing() {
        let tenant = Settings::from_parts(&[(env::AZURE_TENANT_ID, "contoso")], ConfigFile::default(), FILE);
        assert_eq!(
            tenant.authority(None).unwrap().value,
            "https://login.microsoftonline.com/contoso"
        );
        let host = Settings::from_parts(
            &[(env::AZURE_AUTHORITY_HOST, "login.example")],
            ConfigFile::default(),
            FILE,
        );
        assert_eq!(host.authority(None), None);
        assert_eq!(azure_authority("h.example", "t"), "https://h.example/t");
    }

    #[test]
    fn paths_in_the_file_are_relative_to_it_and_redis_urls_stay() {
        let settings = Settings::from_parts(&[], file(), FILE);
        assert_eq!(
            settings.cache(None).unwrap(),
            PathBuf::from("/etc/msal/cache.json")
        );
        assert_eq!(
            settings.cache(Some(Path::new("flag.json"))).unwrap(),
            PathBuf::from("flag.json")
        );
        assert_eq!(settings.ca_cert(None).unwrap(), PathBuf::from("/abs/ca.pem"));
        assert_eq!(
            settings.client_secret_file().unwrap().value,
            PathBuf::from("/etc/msal/secret.txt")
        );
        assert_eq!(settings.cache_store(None), StoreKind::Keyring);
        assert_eq!(settings.cache_store(Some(StoreKind::File)), StoreKind::File);
        assert!(settings.no_instance_discovery(false));
        let redis = ConfigFile {
            cache: Some("redis://127.0.0.1:6379/2".into()),
            ..ConfigFile::default()
        };
        let settings = Settings::from_parts(&[], redis, FILE);
        assert_eq!(
            settings.cache(None).unwrap(),
            PathBuf::from("redis://127.0.0.1:6379/2")
        );
        assert_eq!(settings.cache_store(None), StoreKind::File);
        assert!(!settings.no_instance_discovery(false));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        let typo = parse_config("clientid = \"x\"").unwrap_err().to_string();
        assert!(typo.contains("clientid"), "{typo}");
        let store = parse_config("cache_store = \"vault\"").unwrap_err().to_string();
        assert!(store.contains("vault"), "{store}");
        assert!(parse_config("instance_discovery = \"no\"").is_err());
        assert_eq!(parse_config("").unwrap(), ConfigFile::default());
    }

    #[test]
    fn default_config_path_prefers_an_absolute_xdg_config_home() {
        assert_eq!(
            default_config_path(Some("/x".into()), Some("/home/u".into())),
            Some(PathBuf::from("/x/msal/config.toml"))
        );
        assert_eq!(
            default_config_path(Some("rel".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.config/msal/config.toml"))
        );
        assert_eq!(default_config_path(None, None), None);
    }
}
