//! The account roster in SQL: one row per account, its natural key indexed per owner, the
//! account itself as JSON.

use super::{Row, SqlStore, args, corrupt};
use crate::store::{Account, AccountStore, BoxFuture, Reference, StoreError};
use crate::time::{millis, now_ms};

fn account_from_row(r: &Row) -> Result<Account, StoreError> {
    let body: String = r.get("body")?;
    serde_json::from_str(&body).map_err(corrupt("account"))
}

impl AccountStore for SqlStore {
    fn resolve<'a>(
        &'a self,
        principal: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>> {
        Box::pin(async move {
            let found = match reference {
                Reference::Id(id) => {
                    self.select(
                        "SELECT body FROM adcp_accounts \
                         WHERE tenant = $1 AND account_id = $2 AND owner = $3",
                        &[self.tenant(), id, principal],
                        account_from_row,
                    )
                    .await?
                }
                Reference::Key(key) => {
                    self.select(
                        "SELECT body FROM adcp_accounts \
                         WHERE tenant = $1 AND owner = $2 AND natural_key = $3",
                        &[self.tenant(), principal, &key.canonical()],
                        account_from_row,
                    )
                    .await?
                }
            };
            Ok(found.into_iter().next())
        })
    }

    fn list<'a>(&'a self, principal: &'a str) -> BoxFuture<'a, Result<Vec<Account>, StoreError>> {
        Box::pin(async move {
            self.select(
                "SELECT body FROM adcp_accounts WHERE tenant = $1 AND owner = $2 AND declared = 1 \
                 ORDER BY created_at, account_id",
                &[self.tenant(), principal],
                account_from_row,
            )
            .await
        })
    }

    fn upsert<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(account).map_err(corrupt("account"))?;
            let now = millis(now_ms());
            let changed = self
                .execute(
                    "INSERT INTO adcp_accounts (tenant, account_id, owner, natural_key, declared, \
                     body, created_at, updated_at) VALUES ($7, $1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (tenant, account_id) DO UPDATE SET natural_key = $3, \
                     declared = $4, body = $5, updated_at = $6 WHERE adcp_accounts.owner = $2",
                    args![
                        &account.id,
                        &account.owner,
                        account.natural_key().map(|k| k.canonical()),
                        i64::from(account.declared),
                        body,
                        now,
                        self.tenant(),
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::Exists(account.id.clone()));
            }
            Ok(())
        })
    }
}
