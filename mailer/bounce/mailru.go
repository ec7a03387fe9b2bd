package bounce

// Mail.Ru (Exim underneath) writes its reports in Russian ("К сожалению,
// Ваше письмо не может быть доставлено ...") with Exim's layout and copy
// marker; the English ones ("Mail failure.") are read as Exim's.
func mailruFormat() textFormat {
	return textFormat{
		name:   "mailru",
		detect: []string{"сервером mail.ru", "не может быть доставлено"},
		start:  []string{"получателям:"},
		cut:    eximCopyMarkers,
	}
}
