//! `msal token --managed-identity`: a token for the managed identity of the
//! Azure host this runs on. The host is detected from the environment it
//! sets (see the README's table), so the same command works on a VM, in
//! App Service, Azure ML, Service Fabric, on an Azure Arc server and in
//! Cloud Shell, and against the emulator once its `managed_identity`
//! variables are exported.

use crate::output::outln;
use msal::{Error, ManagedIdentity, ManagedIdentityClient, ManagedIdentityOptions};
use serde_json::json;

use crate::token::{TokenArgs, print_result};

pub(crate) async fn acquire(
    args: &TokenArgs,
    target: crate::cache_file::CacheTarget,
    claims: Option<String>,
) -> Result<(), Error> {
    if args.show_source {
        let source = ManagedIdentityClient::detect_source();
        if args.json {
            outln!("{}", json!({ "source": source.name() }));
        } else {
            outln!("{source}");
        }
        return Ok(());
    }
    let identity = match (&args.client_id, &args.resource_id, &args.object_id) {
        (Some(id), _, _) => ManagedIdentity::ClientId(id.clone()),
        (_, Some(id), _) => ManagedIdentity::ResourceId(id.clone()),
        (_, _, Some(id)) => ManagedIdentity::ObjectId(id.clone()),
        _ => ManagedIdentity::SystemAssigned,
    };
    let resource = args
        .resource
        .as_deref()
        .ok_or_else(|| Error::InvalidArgument("--resource is required".into()))?;
    // The same cache as every command, locked (and so known to be writable) before the request.
    let locked = target.lock().await?;
    let client = ManagedIdentityClient::builder(identity)
        .token_cache(locked.cache.clone())
        .build()?;
    let mut options = ManagedIdentityOptions::default().force_refresh(args.force_refresh);
    if let Some(claims) = claims {
        options = options.claims_challenge(claims);
    }
    let result = client.acquire_token_for_client_with(resource, &options).await?;
    locked.save_if_changed().await?;
    print_result(&result, args.json);
    Ok(())
}
