// Preloaded into the compliance runner (node --require) to move its clock, and only its clock,
// to ADCP_RUNNER_EPOCH (default 2026-04-01T00:00:00Z). The 3.0.6 storyboards carry 2026-04..08
// dates; with a clock past them the runner rewrites create_media_buy dates to now+1d, so an
// idempotent replay sends a different body and a correct server answers IDEMPOTENCY_CONFLICT.
'use strict';
const target = Date.parse(process.env.ADCP_RUNNER_EPOCH || '2026-04-01T00:00:00Z');
const RealDate = Date;
const offset = target - RealDate.now();
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
}
globalThis.Date = ShiftedDate;
