/**
 * On AWS the settlement key's two jobs share the settle-epoch function (one key's nonces, one run at
 * a time); the every-minute schedule's events carry this `detail.task` to ask for early redemption.
 */
export const REDEEM_CLOSING_TASK = "redeem-closing-channels";
