package connectors

// stripeType is api.stripe.com (API v1): form-encoded bodies, amounts as
// numbers. The Stripe-Account header (act on a connected account) becomes
// the stripe_account param so policy can see whose money moves.
var stripeType = builtin{
	hosts:            []string{"api.stripe.com"},
	routes:           stripeRoutes,
	format:           bodyForm, // v1 reads application/x-www-form-urlencoded
	credentialHeader: "authorization",
	headerParams:     []headerParam{{header: "stripe-account", param: "stripe_account"}},
}

var stripeRoutes = []RouteSpec{
	{"POST", "/v1/charges", "stripe.charge.create", nil, qs("amount:number", "currency", "customer")},
	{"GET", "/v1/charges", "stripe.charge.list", qs("customer"), nil},
	{"GET", "/v1/charges/search", "stripe.charge.search", nil, nil},
	{"GET", "/v1/charges/{charge}", "stripe.charge.get", nil, nil},
	{"POST", "/v1/charges/{charge}", "stripe.charge.update", nil, nil},
	{"POST", "/v1/charges/{charge}/capture", "stripe.charge.capture", nil, qs("amount:number")},

	{"POST", "/v1/payment_intents", "stripe.payment_intent.create", nil, qs("amount:number", "currency", "customer", "confirm:bool")},
	{"GET", "/v1/payment_intents", "stripe.payment_intent.list", qs("customer"), nil},
	{"GET", "/v1/payment_intents/search", "stripe.payment_intent.search", nil, nil},
	{"GET", "/v1/payment_intents/{payment_intent}", "stripe.payment_intent.get", nil, nil},
	{"POST", "/v1/payment_intents/{payment_intent}", "stripe.payment_intent.update", nil, qs("amount:number", "currency", "customer")},
	{"POST", "/v1/payment_intents/{payment_intent}/confirm", "stripe.payment_intent.confirm", nil, nil},
	{"POST", "/v1/payment_intents/{payment_intent}/capture", "stripe.payment_intent.capture", nil, qs("amount_to_capture:number")},
	{"POST", "/v1/payment_intents/{payment_intent}/cancel", "stripe.payment_intent.cancel", nil, qs("cancellation_reason")},

	{"POST", "/v1/refunds", "stripe.refund.create", nil, qs("charge", "payment_intent", "amount:number", "reason")},
	{"GET", "/v1/refunds", "stripe.refund.list", qs("charge", "payment_intent"), nil},
	{"GET", "/v1/refunds/{refund}", "stripe.refund.get", nil, nil},
	{"POST", "/v1/refunds/{refund}", "stripe.refund.update", nil, nil},
	{"POST", "/v1/refunds/{refund}/cancel", "stripe.refund.cancel", nil, nil},

	{"POST", "/v1/customers", "stripe.customer.create", nil, nil},
	{"GET", "/v1/customers", "stripe.customer.list", nil, nil},
	{"GET", "/v1/customers/search", "stripe.customer.search", nil, nil},
	{"GET", "/v1/customers/{customer}", "stripe.customer.get", nil, nil},
	{"POST", "/v1/customers/{customer}", "stripe.customer.update", nil, nil},
	{"DELETE", "/v1/customers/{customer}", "stripe.customer.delete", nil, nil},

	{"POST", "/v1/subscriptions", "stripe.subscription.create", nil, qs("customer")},
	{"GET", "/v1/subscriptions", "stripe.subscription.list", qs("customer", "status"), nil},
	{"GET", "/v1/subscriptions/search", "stripe.subscription.search", nil, nil},
	{"GET", "/v1/subscriptions/{subscription}", "stripe.subscription.get", nil, nil},
	{"POST", "/v1/subscriptions/{subscription}", "stripe.subscription.update", nil, qs("cancel_at_period_end:bool")},
	{"DELETE", "/v1/subscriptions/{subscription}", "stripe.subscription.cancel", nil, nil},
	{"POST", "/v1/subscriptions/{subscription}/resume", "stripe.subscription.resume", nil, nil},

	{"POST", "/v1/payouts", "stripe.payout.create", nil, qs("amount:number", "currency", "method", "destination")},
	{"GET", "/v1/payouts", "stripe.payout.list", qs("status"), nil},
	{"GET", "/v1/payouts/{payout}", "stripe.payout.get", nil, nil},
	{"POST", "/v1/payouts/{payout}", "stripe.payout.update", nil, nil},
	{"POST", "/v1/payouts/{payout}/cancel", "stripe.payout.cancel", nil, nil},
	{"POST", "/v1/payouts/{payout}/reverse", "stripe.payout.reverse", nil, nil},

	{"GET", "/v1/balance", "stripe.balance.get", nil, nil},
	{"GET", "/v1/balance_transactions", "stripe.balance_transaction.list", nil, nil},
}
