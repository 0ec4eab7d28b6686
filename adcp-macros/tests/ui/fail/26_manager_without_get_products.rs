//! A manager that cannot answer a brief, with a finalize that is not async.
use adcp_runtime::store::ProposalRecord;
use adcp_runtime::wire::Proposal;
use adcp_runtime::{AdcpResult, Ctx, proposal_manager};

struct Planner;

#[proposal_manager(finalize)]
impl Planner {
    fn finalize(&self, _ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> {
        draft.decode()
    }
}

fn main() {}
