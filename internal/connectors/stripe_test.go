package connectors

import "testing"

var stripeGolden = []golden{
	{"creates a charge with amount as a number", "POST", "/v1/charges", "amount=2000&currency=usd&customer=cus_1&metadata[order]=9", "stripe.charge.create", P{"amount": 2000.0, "currency": "usd", "customer": "cus_1"}},
	{"decodes percent-encoded form keys and values", "POST", "/v1/charges", "amo%75nt=50&currency=e%75r&description=a+b", "stripe.charge.create", P{"amount": 50.0, "currency": "eur"}},
	{"lists a customer's charges", "GET", "/v1/charges?customer=cus_1&limit=3", "", "stripe.charge.list", P{"customer": "cus_1"}},
	{"searches charges", "GET", "/v1/charges/search?query=amount>100", "", "stripe.charge.search", nil},
	{"gets a charge", "GET", "/v1/charges/ch_1", "", "stripe.charge.get", P{"charge": "ch_1"}},
	{"updates a charge", "POST", "/v1/charges/ch_1", "description=x", "stripe.charge.update", P{"charge": "ch_1"}},
	{"captures part of a charge", "POST", "/v1/charges/ch_1/capture", "amount=500", "stripe.charge.capture", P{"charge": "ch_1", "amount": 500.0}},

	{"creates a payment intent", "POST", "/v1/payment_intents", "amount=1099&currency=usd&confirm=true&payment_method_types[]=card", "stripe.payment_intent.create", P{"amount": 1099.0, "currency": "usd", "confirm": true}},
	{"lists payment intents", "GET", "/v1/payment_intents?customer=cus_2", "", "stripe.payment_intent.list", P{"customer": "cus_2"}},
	{"searches payment intents", "GET", "/v1/payment_intents/search?query=x", "", "stripe.payment_intent.search", nil},
	{"gets a payment intent", "GET", "/v1/payment_intents/pi_1", "", "stripe.payment_intent.get", P{"payment_intent": "pi_1"}},
	{"raises a payment intent's amount", "POST", "/v1/payment_intents/pi_1", "amount=999999", "stripe.payment_intent.update", P{"payment_intent": "pi_1", "amount": 999999.0}},
	{"confirms a payment intent", "POST", "/v1/payment_intents/pi_1/confirm", "", "stripe.payment_intent.confirm", P{"payment_intent": "pi_1"}},
	{"captures a payment intent", "POST", "/v1/payment_intents/pi_1/capture", "amount_to_capture=100", "stripe.payment_intent.capture", P{"payment_intent": "pi_1", "amount_to_capture": 100.0}},
	{"cancels a payment intent", "POST", "/v1/payment_intents/pi_1/cancel", "cancellation_reason=duplicate", "stripe.payment_intent.cancel", P{"payment_intent": "pi_1", "cancellation_reason": "duplicate"}},

	{"refunds a charge in part", "POST", "/v1/refunds", "charge=ch_1&amount=300&reason=requested_by_customer", "stripe.refund.create", P{"charge": "ch_1", "amount": 300.0, "reason": "requested_by_customer"}},
	{"lists refunds of a payment intent", "GET", "/v1/refunds?payment_intent=pi_1", "", "stripe.refund.list", P{"payment_intent": "pi_1"}},
	{"gets a refund", "GET", "/v1/refunds/re_1", "", "stripe.refund.get", P{"refund": "re_1"}},
	{"updates a refund", "POST", "/v1/refunds/re_1", "metadata[a]=b", "stripe.refund.update", P{"refund": "re_1"}},
	{"cancels a refund", "POST", "/v1/refunds/re_1/cancel", "", "stripe.refund.cancel", P{"refund": "re_1"}},

	{"creates a customer without copying the email", "POST", "/v1/customers", "email=a%40b.example&name=A", "stripe.customer.create", nil},
	{"lists customers", "GET", "/v1/customers", "", "stripe.customer.list", nil},
	{"searches customers", "GET", "/v1/customers/search?query=email:'x'", "", "stripe.customer.search", nil},
	{"gets a customer", "GET", "/v1/customers/cus_1", "", "stripe.customer.get", P{"customer": "cus_1"}},
	{"updates a customer", "POST", "/v1/customers/cus_1", "name=B", "stripe.customer.update", P{"customer": "cus_1"}},
	{"deletes a customer", "DELETE", "/v1/customers/cus_1", "", "stripe.customer.delete", P{"customer": "cus_1"}},

	{"creates a subscription", "POST", "/v1/subscriptions", "customer=cus_1&items[0][price]=price_1", "stripe.subscription.create", P{"customer": "cus_1"}},
	{"lists active subscriptions", "GET", "/v1/subscriptions?status=active", "", "stripe.subscription.list", P{"status": "active"}},
	{"searches subscriptions", "GET", "/v1/subscriptions/search?query=x", "", "stripe.subscription.search", nil},
	{"gets a subscription", "GET", "/v1/subscriptions/sub_1", "", "stripe.subscription.get", P{"subscription": "sub_1"}},
	{"schedules a cancellation", "POST", "/v1/subscriptions/sub_1", "cancel_at_period_end=true", "stripe.subscription.update", P{"subscription": "sub_1", "cancel_at_period_end": true}},
	{"cancels a subscription now", "DELETE", "/v1/subscriptions/sub_1", "", "stripe.subscription.cancel", P{"subscription": "sub_1"}},
	{"resumes a subscription", "POST", "/v1/subscriptions/sub_1/resume", "", "stripe.subscription.resume", P{"subscription": "sub_1"}},

	{"creates an instant payout", "POST", "/v1/payouts", "amount=5000&currency=usd&method=instant", "stripe.payout.create", P{"amount": 5000.0, "currency": "usd", "method": "instant"}},
	{"lists pending payouts", "GET", "/v1/payouts?status=pending", "", "stripe.payout.list", P{"status": "pending"}},
	{"gets a payout", "GET", "/v1/payouts/po_1", "", "stripe.payout.get", P{"payout": "po_1"}},
	{"updates a payout", "POST", "/v1/payouts/po_1", "metadata[x]=y", "stripe.payout.update", P{"payout": "po_1"}},
	{"cancels a payout", "POST", "/v1/payouts/po_1/cancel", "", "stripe.payout.cancel", P{"payout": "po_1"}},
	{"reverses a payout", "POST", "/v1/payouts/po_1/reverse", "", "stripe.payout.reverse", P{"payout": "po_1"}},

	{"reads the balance", "GET", "/v1/balance", "", "stripe.balance.get", nil},
	{"lists balance transactions", "GET", "/v1/balance_transactions", "", "stripe.balance_transaction.list", nil},
	{"names an unlisted endpoint unknown", "POST", "/v1/transfers", "amount=1", "stripe.unknown", P{"method": "POST", "path": "/v1/transfers"}},
}

func init() { goldenTables[TypeStripe] = stripeGolden }

func TestStripeGolden(t *testing.T) {
	runGolden(t, Spec{Name: "payments", Type: TypeStripe}, "application/x-www-form-urlencoded", stripeGolden)
}
