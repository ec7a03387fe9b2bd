package bounce

// Courier: "This is a delivery status notification from HOST, running the
// Courier mail server", then under "UNDELIVERABLE MAIL" the recipients as
// "<user@example.com>:" with the SMTP dialogue (">>> RCPT TO", "<<< 550
// ...") below. Courier attaches a delivery-status part too; this reads the
// text when that part is missing.
func courierFormat() textFormat {
	return textFormat{
		name:   "courier",
		detect: []string{"running the courier mail server"},
		start:  []string{"cannot be delivered:"},
		delay:  []string{"delayed mail", "has not yet been delivered", "delivery delay"},
	}
}
