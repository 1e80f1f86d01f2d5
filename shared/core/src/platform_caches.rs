//! What platforms keep per account in one process (a WeChat Pay client with the platform
//! certificates it downloaded, ...), kept true by account writes without generic code naming
//! a platform: each cache is a type the platform owns ([`AccountScoped`]), found by its type in
//! [`PlatformCaches`] (one per process, in `Services::caches`), and told of every account write
//! through `Services::account_changed` and `Services::forget_account`.

use domain::account::Account;
use std::any::{Any, TypeId};
use std::sync::{Arc, RwLock};

/// A per-account cache a platform keeps in a process.
pub trait AccountScoped: Any + Send + Sync {
    /// The account was written (created, changed, enabled or disabled, credentials stored),
    /// as given: drop what was built from anything that differs now.
    fn account_changed(&self, account: &Account);

    /// The account was deleted, or a stored secret of it replaced: drop everything about it.
    fn forget(&self, account: &Account);
}

struct Entry {
    type_id: TypeId,
    any: Arc<dyn Any + Send + Sync>,
    hooks: Arc<dyn AccountScoped>,
}

/// The platforms' per-account caches of one process, one of each type, made on first use.
#[derive(Default)]
pub struct PlatformCaches {
    entries: RwLock<Vec<Entry>>,
}

impl PlatformCaches {
    /// The cache of type `T` (made empty on first use; the same one afterwards).
    pub fn get<T: AccountScoped + Default>(&self) -> Arc<T> {
        if let Some(found) = self.find::<T>() {
            return found;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Another thread may have made it between the two locks.
        if let Some(e) = entries.iter().find(|e| e.type_id == TypeId::of::<T>())
            && let Ok(found) = e.any.clone().downcast::<T>()
        {
            return found;
        }
        let made = Arc::new(T::default());
        entries.push(Entry {
            type_id: TypeId::of::<T>(),
            any: made.clone(),
            hooks: made.clone(),
        });
        made
    }

    fn find<T: AccountScoped>(&self) -> Option<Arc<T>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let e = entries.iter().find(|e| e.type_id == TypeId::of::<T>())?;
        e.any.clone().downcast::<T>().ok()
    }

    fn each(&self) -> Vec<Arc<dyn AccountScoped>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.iter().map(|e| e.hooks.clone()).collect()
    }

    /// Tell every cache that `account` was written ([`AccountScoped::account_changed`]).
    pub fn account_changed(&self, account: &Account) {
        for c in self.each() {
            c.account_changed(account);
        }
    }

    /// Tell every cache to drop `account` ([`AccountScoped::forget`]).
    pub fn forget(&self, account: &Account) {
        for c in self.each() {
            c.forget(account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it was told.
    #[derive(Default)]
    struct Told(Mutex<Vec<String>>);

    impl AccountScoped for Told {
        fn account_changed(&self, a: &Account) {
            self.0
                .lock()
                .expect("not poisoned")
                .push(format!("changed {}", a.id));
        }
        fn forget(&self, a: &Account) {
            self.0
                .lock()
                .expect("not poisoned")
                .push(format!("forget {}", a.id));
        }
    }

    #[derive(Default)]
    struct Other(Told);

    impl AccountScoped for Other {
        fn account_changed(&self, a: &Account) {
            self.0.account_changed(a);
        }
        fn forget(&self, a: &Account) {
            self.0.forget(a);
        }
    }

    fn account(id: &str) -> Account {
        use domain::account::{AccountKind, AccountSettings, OpenSettings};
        let now = chrono::Utc::now();
        Account {
            id: id.into(),
            name: "Toy".into(),
            enabled: true,
            settings: AccountSettings::Open(OpenSettings {
                kind: AccountKind::new("toy_shop"),
                settings: Default::default(),
            }),
            credentials: Default::default(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn one_cache_per_type_each_told_of_every_write() {
        let caches = PlatformCaches::default();
        let told = caches.get::<Told>();
        assert!(Arc::ptr_eq(&told, &caches.get::<Told>()), "the same one");
        let other = caches.get::<Other>();
        caches.account_changed(&account("a1"));
        caches.forget(&account("a2"));
        let want = vec!["changed a1".to_string(), "forget a2".to_string()];
        assert_eq!(*told.0.lock().expect("not poisoned"), want);
        assert_eq!(*other.0.0.lock().expect("not poisoned"), want);
    }
}
