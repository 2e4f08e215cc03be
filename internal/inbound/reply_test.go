package inbound

import "testing"

func TestTrimReplyDropsQuotedHistoryAndSignatures(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"Gmail, English", `Here is the copy of my ID card, attached.

Thanks,
Dana

On Fri, Mar 6, 2026 at 2:21 PM Operator Privacy <no-reply@operator.kz> wrote:

> Dear Dana,
> we need a copy of your ID to confirm who you are.
> Reference: RD-5398-D123-456V
`, "Here is the copy of my ID card, attached.\n\nThanks,\nDana"},

		{"Gmail, English, header broken over two lines", `Yes, please delete everything.

On Fri, Mar 6, 2026 at 2:21 PM Operator Privacy <no-reply@operator.kz>
wrote:
> Do you want us to delete your account too?
`, "Yes, please delete everything."},

		{"Gmail, Russian", `Да, удалите, пожалуйста, и аккаунт тоже.

пт, 6 мар. 2026 г. в 14:21, Operator <no-reply@operator.kz>:

> Здравствуйте! Удалить ли также ваш аккаунт?
>
`, "Да, удалите, пожалуйста, и аккаунт тоже."},

		{"Gmail, Kazakh", `Иә, аккаунтымды да жойыңыз.

2026 ж. 6 нау., жұма, 14:21 Operator <no-reply@operator.kz> жазды:

> Сәлеметсіз бе! Аккаунтыңызды да жою керек пе?
`, "Иә, аккаунтымды да жойыңыз."},

		{"Yandex", `Отправляю скан паспорта.

06.03.2026, 14:21, "Operator" <no-reply@operator.kz>:
> Пришлите, пожалуйста, документ, удостоверяющий личность.
`, "Отправляю скан паспорта."},

		{"Mail.ru", `Добрый день, документы во вложении.

Пятница, 6 марта 2026, 14:21 +05:00 от Operator <no-reply@operator.kz>:
 
>Здравствуйте!
>Пришлите документ.
`, "Добрый день, документы во вложении."},

		{"Mail.ru, address without brackets", `Спасибо.

Пятница, 6 марта 2026, 14:21 +05:00 от no-reply@operator.kz:
>Ваш запрос выполнен.
`, "Спасибо."},

		{"Russian client: пишет", `Согласна.

06.03.2026 14:21, Operator пишет:
> Мы продлим срок ответа.
`, "Согласна."},

		{"Outlook, English", `Please find my corrected address below:
12 Abay Ave, Almaty

-----Original Message-----
From: Operator Privacy <no-reply@operator.kz>
Sent: Friday, March 6, 2026 2:21 PM
To: Dana <dana@school.kz>
Subject: RD-5398-D123-456V: information requested

What is the correct address?
`, "Please find my corrected address below:\n12 Abay Ave, Almaty"},

		{"Outlook, Russian, From/Sent block", `Прошу прощения, вот правильный номер: +7 701 000 00 00

С уважением,
Алия Бекова
________________________________
От: Operator <no-reply@operator.kz>
Отправлено: 6 марта 2026 г. 14:21
Кому: Алия Бекова
Тема: RD-5398-D123-456V: нужна информация

Уточните, пожалуйста, номер телефона.
`, "Прошу прощения, вот правильный номер: +7 701 000 00 00\n\nС уважением,\nАлия Бекова"},

		{"Outlook, Kazakh", `Дұрыс нөмірім: +7 701 000 00 00

Кімнен: Operator <no-reply@operator.kz>
Жіберілді: 6 наурыз 2026 ж. 14:21
Кімге: Алия
Тақырып: RD-5398-D123-456V

Телефон нөміріңізді нақтылаңыз.
`, "Дұрыс нөмірім: +7 701 000 00 00"},

		{"Outlook, Russian separator", `Да.

-----Исходное сообщение-----
От: Operator
Отправлено: 6 марта 2026 г. 14:21
`, "Да."},

		{"signature after -- ", `Высылаю документы.

-- 
Иванов Иван
+7 701 000 00 00
ООО «Ромашка»`, "Высылаю документы."},

		{"phone signature", `Документы во вложении

Отправлено с iPhone`, "Документы во вложении"},

		{"Kazakh phone signature", `Құжаттар тіркелген

iPhone-нан жіберілді`, "Құжаттар тіркелген"},

		{"a sentence that ends with жіберілді stays", `Құжаттар сізге кеше жіберілді`, "Құжаттар сізге кеше жіберілді"},

		{"inline answers keep the answers", `> Ваш номер телефона?
+7 701 000 00 00
> Ваш адрес?
Алматы, пр. Абая 12`, "+7 701 000 00 00\nАлматы, пр. Абая 12"},

		{"an address with a colon in a sentence is no quote header", `Пишите мне на новый адрес 2026 года: new@mail.kz:
спасибо`, "Пишите мне на новый адрес 2026 года: new@mail.kz:\nспасибо"},

		{"everything quoted keeps the whole text", `> только цитата
> и ничего больше`, "> только цитата\n> и ничего больше"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TrimReply(tt.text); got != tt.want {
				t.Errorf("TrimReply =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// A reply that threads by In-Reply-To, read whole: its keys and its
// trimmed text.
func TestReadTrimsTheTextOfAReply(t *testing.T) {
	raw := letter(`
From: Dana <dana@school.kz>
To: privacy@operator.kz
Subject: Re: `+validRef+`: information requested
In-Reply-To: <rd.9.info.x@operator.kz>
Content-Type: text/plain; charset=utf-8`, `Here is my new address: 12 Abay Ave.

On Fri, Mar 6, 2026 at 2:21 PM Operator <no-reply@operator.kz> wrote:
> What is your address?`)
	l, err := Read(raw, Envelope{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Class.Kind != KindReply || l.ReplyText != "Here is my new address: 12 Abay Ave." || l.Locale != "en" {
		t.Errorf("kind %s, reply %q, locale %s", l.Class.Kind, l.ReplyText, l.Locale)
	}
	if l.Text == l.ReplyText {
		t.Error("Text lost the quoted history; it must keep the letter whole")
	}
}
