//! The account roster in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::store::accounts::{Account, AccountStore, Reference};
use crate::store::{BoxFuture, StoreError};

/// The roster in memory.
#[derive(Default)]
pub struct MemoryAccountStore {
    accounts: Mutex<BTreeMap<String, (u64, Account)>>,
    next: Mutex<u64>,
}

impl AccountStore for MemoryAccountStore {
    fn resolve<'a>(
        &'a self,
        principal: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>> {
        let all = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match reference {
            Reference::Id(id) => all.get(id).map(|(_, a)| a),
            Reference::Key(key) => all
                .values()
                .map(|(_, a)| a)
                .find(|a| a.owner == principal && a.natural_key().as_ref() == Some(key)),
        }
        .filter(|a| a.owner == principal)
        .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn list<'a>(&'a self, principal: &'a str) -> BoxFuture<'a, Result<Vec<Account>, StoreError>> {
        let all = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut mine: Vec<&(u64, Account)> = all
            .values()
            .filter(|(_, a)| a.owner == principal && a.declared)
            .collect();
        mine.sort_by_key(|(n, _)| *n);
        let out = mine.into_iter().map(|(_, a)| a.clone()).collect();
        Box::pin(async move { Ok(out) })
    }

    fn upsert<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut all = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let order = match all.get(&account.id) {
            Some((_, a)) if a.owner != account.owner => {
                let taken = StoreError::Exists(account.id.clone());
                return Box::pin(async move { Err(taken) });
            }
            _ if account.natural_key().is_some()
                && all.values().any(|(_, a)| {
                    a.id != account.id
                        && a.owner == account.owner
                        && a.natural_key() == account.natural_key()
                }) =>
            {
                let taken = StoreError::Exists(account.id.clone());
                return Box::pin(async move { Err(taken) });
            }
            Some((n, _)) => *n,
            None => {
                let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
                *next += 1;
                *next
            }
        };
        all.insert(account.id.clone(), (order, account.clone()));
        Box::pin(async { Ok(()) })
    }
}
