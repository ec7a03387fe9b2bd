package bounce

import (
	"slices"
	"testing"
)

// TestIdentification checks what a report says about where it went and
// which mail it returns: the VERP candidates, the returned Message-ID and
// List-Id, the envelope sender, and the report's own Message-ID.
func TestIdentification(t *testing.T) {
	tests := []struct {
		file              string
		messageID         string
		deliveredTo       []string
		returnPath        string
		originalMessageID string
		listID            string
		subject           string
	}{
		{
			file:              "postfix_local_alias.eml",
			messageID:         "20260302060052.1122AA33BB@mail.verein.example",
			deliveredTo:       []string{"newsletter-bounces@mail.example.org", "bounces+c30s64.f3g4h5j6@example.org"},
			returnPath:        "bounces+c30s64.f3g4h5j6@example.org",
			originalMessageID: "c30.s64.6f5e4d3c2b1a@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "Undelivered Mail Returned to Sender",
		},
		{
			// Exim's Envelope-to, and the returned header quoted in the text.
			file:              "exim_old_unrouteable.eml",
			messageID:         "E1NqR5z-0003Ab-Kq@mx.webspace.example",
			deliveredTo:       []string{"bounces+c30s80.u8r2t4y6@example.org"},
			returnPath:        "bounces+c30s80.u8r2t4y6@example.org",
			originalMessageID: "c30.s80.8d9e0f1a2b3c@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "Mail delivery failed: returning message to sender",
		},
		{
			// A feedback loop report goes to a fixed address; the VERP
			// address is the Original-Mail-From.
			file:              "arf_yahoo_cfl.eml",
			messageID:         "ARF-1772451668.4ab5c6d7@arf.mail.yahoo.com",
			deliveredTo:       []string{"fbl@example.org"},
			returnPath:        "bounces+c30s182.y9c8f7l6@example.org",
			originalMessageID: "c30.s182.8f90a1b2c3d4@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "FW: KNIEPUNKT 030",
		},
		{
			file:              "ses_old_plain.eml",
			messageID:         "0000014a1b2c3d4e-5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c-000000@email.amazonses.com",
			deliveredTo:       []string{"kolumne@example.org"},
			originalMessageID: "c30.s152.f7a8b9c0d1e2@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "Delivery Status Notification (Failure)",
		},
		{
			file:              "mailru_ru.eml",
			messageID:         "E1vXq4F-000aBc-3D@f123.i.mail.ru",
			deliveredTo:       []string{"kniepunkt@mail.ru"},
			returnPath:        "ivan.sidorov@mail.ru",
			originalMessageID: "c30.s160.1e2f3a4b5c6d@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "Недоставленное сообщение",
		},
		{
			file:              "jp_isp_iso2022jp.eml",
			messageID:         "20260302060330.7F3A2B1C@mail.example-isp.jp",
			deliveredTo:       []string{"bounces+c30s174.j1p2i3s4@example.org"},
			originalMessageID: "c30.s174.6d7e8f90a1b2@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "メール配送エラーのお知らせ",
		},
		{
			// No returned header at all: In-Reply-To names the mail.
			file:              "exim_delay_warning.eml",
			messageID:         "E1vXz9k-00Bc12-3r@smarthost.hoster.example",
			deliveredTo:       []string{"bounces+c30s92.w3a9r1n5@example.org"},
			returnPath:        "bounces+c30s92.w3a9r1n5@example.org",
			originalMessageID: "c30.s92.0a1b2c3d4e5f@example.org",
			listID:            "kniepunkt.news.example.org",
			subject:           "Warning: message 1vXq3d-00AbEf-7h delayed 24 hours",
		},
		{
			file:        "autoreply_fr.eml",
			messageID:   "auto-9f8e7d6c@mail.exemple-mairie.example",
			deliveredTo: []string{"bounces+c30s196.f1r2a3n4@example.org"},
			subject:     "Réponse automatique : KNIEPUNKT 030",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rep := parseFile(t, tt.file)
			if rep.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", rep.MessageID, tt.messageID)
			}
			if !slices.Equal(rep.DeliveredTo, tt.deliveredTo) {
				t.Errorf("DeliveredTo = %q, want %q", rep.DeliveredTo, tt.deliveredTo)
			}
			if rep.ReturnPath != tt.returnPath {
				t.Errorf("ReturnPath = %q, want %q", rep.ReturnPath, tt.returnPath)
			}
			if rep.OriginalMessageID != tt.originalMessageID {
				t.Errorf("OriginalMessageID = %q, want %q", rep.OriginalMessageID, tt.originalMessageID)
			}
			if rep.ListID != tt.listID {
				t.Errorf("ListID = %q, want %q", rep.ListID, tt.listID)
			}
			if rep.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", rep.Subject, tt.subject)
			}
		})
	}
}

func TestOriginalRecipient(t *testing.T) {
	rep := parseFile(t, "postfix_local_alias.eml")
	if len(rep.Events) != 1 || rep.Events[0].OriginalRecipient != "vorstand@verein.example" {
		t.Fatalf("events = %+v, want Original-Recipient vorstand@verein.example", rep.Events)
	}
	rep = parseFile(t, "postfix_user_unknown.eml")
	if got := rep.Events[0].OriginalRecipient; got != "" {
		t.Errorf("OriginalRecipient = %q, want empty when it equals Final-Recipient", got)
	}
}
