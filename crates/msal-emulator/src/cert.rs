//! TLS material: a fresh local CA and a server certificate signed by it for
//! `127.0.0.1` and every host name the emulator serves (`localhost`, the
//! clouds' login hosts, regional hosts by wildcard, and the directory's
//! B2C, CIAM, AD FS and identity provider hosts), generated at every start.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::regional;

/// Common name of the generated CA, so users recognise it in trust stores.
pub(crate) const CA_COMMON_NAME: &str = "msal-emulator local CA";

/// PEM-encoded TLS material for one emulator run.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TlsMaterial {
    /// The CA certificate clients must trust.
    pub(crate) ca_cert_pem: String,
    /// The server certificate followed by the CA certificate (the chain served).
    pub(crate) chain_pem: String,
    /// The server certificate's private key (PKCS#8).
    pub(crate) key_pem: String,
    /// The host names the server certificate names (besides `127.0.0.1`
    /// and the regional wildcards); empty in state directories written
    /// before it was kept.
    #[serde(default)]
    pub(crate) hosts: Vec<String>,
}

/// Generates a CA and a server certificate signed by it (see the module docs for its names).
pub(crate) fn generate(hosts: &[String]) -> Result<TlsMaterial, rcgen::Error> {
    // Backdate a little so clients with a slightly slow clock accept it.
    let not_before = OffsetDateTime::now_utc() - Duration::hours(1);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name(CA_COMMON_NAME);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_before + Duration::days(365);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf_params = CertificateParams::default();
    leaf_params.distinguished_name = name("127.0.0.1");
    leaf_params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    // Every name served, for clients whose resolver sends them here. Only
    // clients that trust this run's CA accept them, and the CA's key is
    // dropped once this certificate is signed.
    for host in hosts {
        leaf_params
            .subject_alt_names
            .push(SanType::DnsName(host.clone().try_into()?));
    }
    for parent in regional::REGIONAL_PARENTS {
        leaf_params
            .subject_alt_names
            .push(SanType::DnsName(format!("*.{parent}").try_into()?));
    }
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (OpenSSL's X509_STRICT, Python 3.13) require the AKI.
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_before + Duration::days(90);
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    let ca_cert_pem = ca_cert.pem();
    Ok(TlsMaterial {
        chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert_pem),
        ca_cert_pem,
        key_pem: leaf_key.serialize_pem(),
        hosts: hosts.to_vec(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "msal-emulator");
    dn
}
