//! The directory a running emulator serves, and the administrator's changes
//! to it (apps and users added over the admin endpoints).
//!
//! Versions are append-only: a change validates a changed copy and appends
//! it, so a request that started with one version keeps a consistent view
//! of it (borrowed for the request's life) while later requests see the
//! new one. Every version is kept until the emulator stops; the number of
//! changes is capped so that cannot grow without bound.

use std::sync::Mutex;

use crate::directory::{Directory, DirectoryError};

/// How many changes one run accepts (each keeps a copy of the directory).
pub(crate) const MAX_CHANGES: usize = 1000;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    /// The changed directory is inconsistent.
    #[error(transparent)]
    Invalid(#[from] DirectoryError),
    /// The run has taken [`MAX_CHANGES`] changes already.
    #[error("this emulator run has taken {MAX_CHANGES} directory changes already; restart it")]
    TooMany,
}

/// The served directory's versions, newest last.
pub(crate) struct LiveDirectory {
    /// Never empty: [`LiveDirectory::new`] adds the first.
    versions: elsa::sync::FrozenVec<Box<Directory>>,
    /// What a change falls back on if the versions could not be read (they always can).
    initial: Directory,
    /// Serializes changes so none is lost to a concurrent one.
    changing: Mutex<()>,
}

impl LiveDirectory {
    /// Serves `directory` (already validated).
    pub(crate) fn new(directory: Directory) -> LiveDirectory {
        let versions = elsa::sync::FrozenVec::new();
        versions.push(Box::new(directory.clone()));
        LiveDirectory {
            versions,
            initial: directory,
            changing: Mutex::new(()),
        }
    }

    /// The newest version.
    pub(crate) fn current(&self) -> &Directory {
        let last = self.versions.len().saturating_sub(1);
        self.versions.get(last).unwrap_or(&self.initial)
    }

    /// Applies `edit` to a copy of the newest version and, if the result
    /// validates, serves it from now on.
    pub(crate) fn change<T>(
        &self,
        edit: impl FnOnce(&mut Directory) -> Result<T, DirectoryError>,
    ) -> Result<T, ChangeError> {
        // A poisoned lock only means another change panicked before it
        // appended anything: the versions are intact.
        let _guard = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        if self.versions.len() > MAX_CHANGES {
            return Err(ChangeError::TooMany);
        }
        let mut next = self.current().clone();
        let out = edit(&mut next)?;
        next.validate()?;
        self.versions.push(Box::new(next));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_validate_and_keep_old_borrows_valid() {
        let live = LiveDirectory::new(Directory::builtin());
        let before = live.current();
        let apps = before.apps.len();
        let mut app = before.apps[0].clone();
        app.client_id = "4f1c8f53-1a0e-4d4e-9f57-3b0f4f7f0a11".into();
        live.change(|d| {
            d.apps.push(app.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(live.current().apps.len(), apps + 1);
        // The borrow taken before the change still reads the old version.
        assert_eq!(before.apps.len(), apps);
        // A duplicate is refused and nothing changes.
        let err = live
            .change(|d| {
                d.apps.push(app.clone());
                Ok(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("duplicate client id"), "{err}");
        assert_eq!(live.current().apps.len(), apps + 1);
    }
}
