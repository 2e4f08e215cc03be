package inbound

import (
	"testing"

	"rightsdesk/internal/request"
)

func TestGuessLanguage(t *testing.T) {
	tests := []struct {
		text string
		want request.Locale
	}{
		{"Сәлеметсіз бе! Менің деректерімді жоюыңызды сұраймын.", request.Kazakh},
		{"Сәлем", request.Kazakh}, // a greeting: one Kazakh letter in five
		{"Здравствуйте! Прошу удалить мои персональные данные. Нұрлан Абенов", request.Russian},
		{"Добрый день, прошу предоставить копию моих данных.", request.Russian},
		{"Hello, please delete my account and all data you hold about me.", request.English},
		{"Hello, please delete my data. С уважением, Иван", request.English},
		{"Прошу удалить данные из CRM и из Google Analytics.", request.Russian},
		{"Деректерімді жойыңыз. Please delete my data.", request.Kazakh},
		{"12345 !!!", ""},
		{"", ""},
		{"Спасибо большое за быстрый ответ, Іван", request.Russian}, // one in thirty: a Kazakh-keyboard slip
	}
	for _, tt := range tests {
		if got := GuessLanguage(tt.text); got != tt.want {
			t.Errorf("GuessLanguage(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestSuggestTypeFromWordsInThreeLanguages(t *testing.T) {
	tests := []struct {
		text    string
		want    request.Type
		minConf float64
	}{
		// erasure
		{"Прошу удалить мои персональные данные и аккаунт.", request.Erasure, 0.7},
		{"Требую удаления всех сведений обо мне.", request.Erasure, 0.7},
		{"Менің дербес деректерімді жоюды сұраймын.", request.Erasure, 0.7},
		{"Аккаунтымды жойыңыз.", request.Erasure, 0.7},
		{"Please delete my account.", request.Erasure, 0.7},
		{"I want my data erased under the right to be forgotten.", request.Erasure, 0.7},
		// access
		{"Прошу предоставить доступ к моим данным и копию моих данных.", request.Access, 0.7},
		{"Хочу узнать, какие данные обо мне вы храните.", request.Access, 0.4},
		{"Менің деректерімнің көшірмесін жіберіңіз.", request.Access, 0.4},
		{"Please send me a copy of my data.", request.Access, 0.7},
		// rectification
		{"Прошу исправить мою фамилию в личном кабинете.", request.Rectification, 0.7},
		{"Тегімді түзетуді сұраймын.", request.Rectification, 0.7},
		{"Менің мекенжайымды өзгертіңіз.", request.Rectification, 0.4},
		{"Please correct my date of birth.", request.Rectification, 0.7},
		// consent withdrawal
		{"Настоящим отзываю согласие на обработку персональных данных.", request.ConsentWithdrawal, 0.9},
		{"Хочу отозвать своё согласие на рассылку.", request.ConsentWithdrawal, 0.9},
		{"Дербес деректерді өңдеуге келісімді кері қайтарып аламын.", request.ConsentWithdrawal, 0.9},
		{"I withdraw my consent to marketing.", request.ConsentWithdrawal, 0.9},
		// restriction
		{"Прошу ограничить обработку моих данных до проверки.", request.Restriction, 0.7},
		{"Требую блокирования моих персональных данных.", request.Restriction, 0.7},
		{"Деректерімді бұғаттауды сұраймын.", request.Restriction, 0.7},
		{"Please restrict processing of my data.", request.Restriction, 0.7},
		// objection
		{"Я возражаю против обработки моих данных для рекламы.", request.Objection, 0.9},
		{"Деректерімді өңдеуге қарсылық білдіремін.", request.Objection, 0.7},
		{"I object to the processing of my data.", request.Objection, 0.7},
		// portability
		{"Прошу перенести мои данные в другой сервис.", request.Portability, 0.7},
		{"Деректерімді басқа операторға тасымалдауды сұраймын.", request.Portability, 0.9},
		{"I want data portability: a machine-readable export.", request.Portability, 0.9},
		// nothing to go by
		{"Здравствуйте, у меня вопрос по оплате.", "", 0},
	}
	for _, tt := range tests {
		got := SuggestType(tt.text)
		if got.Type != tt.want || got.Confidence < tt.minConf || got.Confidence > 1 {
			t.Errorf("SuggestType(%q) = %+v, want %s with confidence ≥ %.2f", tt.text, got, tt.want, tt.minConf)
		}
		if tt.want != "" && len(got.Words) == 0 {
			t.Errorf("SuggestType(%q) names no words", tt.text)
		}
	}
}

func TestSuggestTypeLowersConfidenceWhenWordsDisagree(t *testing.T) {
	clear := SuggestType("Прошу удалить мои данные.")
	mixed := SuggestType("Прошу удалить мои данные, а если нельзя, то ограничить их обработку и прислать копию.")
	if mixed.Type != request.Erasure && mixed.Type != "" {
		t.Errorf("mixed = %+v", mixed)
	}
	if mixed.Confidence >= clear.Confidence {
		t.Errorf("mixed confidence %.2f not below clear %.2f", mixed.Confidence, clear.Confidence)
	}
	// A tie is no suggestion.
	if tie := SuggestType("удалить или исправить"); tie.Type != "" {
		t.Errorf("tie = %+v", tie)
	}
}
