"""Every exercise's free-text rubric, on the sentences young people in Rwanda and Burundi really write.

For each exercise's free-text step and each language (en, fr, rw), realistic answers to the task
that was set, typed the way people type on a shared phone (no accents, "jai", "Im", "u", no
punctuation, mixed case), each with the rubric rules it must hit on the real content:

- GOOD: the step's `positive` rule (the praise the model answer earns);
- CAREFUL: its other rule (blame, an insult, an excuse, pressure to forgive, naming his father...);
- nothing: a miss, which gets the fallback feedback.

The known traps are among them: rw "Ni wowe ukurikiraho" ("you are next", the words of "Your
turn.") and "Nkeneye ko buri gihe tuganira" ("I need us to always talk") are not blame, en
"familiar" is not "liar", and fr « Tu prends toujours tout ! » is blame.
"""

from __future__ import annotations

import functools

import pytest

from bot.config import Settings
from bot.content.loader import load_content
from bot.content.models import Dialog, FreeTextStep
from bot.i18n import LANGUAGES, Catalogs
from bot.learning.rubric import hits

GOOD = "good"
CAREFUL = "careful"
MIN_SENTENCES = 5

Expected = tuple[str, ...]
Cases = dict[str, list[tuple[str, Expected]]]  # language -> [(sentence, rules it must hit)]

G: Expected = (GOOD,)
C: Expected = (CAREFUL,)
GC: Expected = (GOOD, CAREFUL)
MISS: Expected = ()

# "<exercise id>/<free-text step id>" -> sentences per language.
SENTENCES: dict[str, Cases] = {
    # Kalisa to Mama Keza: how he feels and what he needs.
    "water_point/practice": {
        "en": [
            ("Mama Keza, I feel worried when my goats go thirsty. Can we talk?", G),
            ("i need water for my goats before i go to the field", G),
            ("Im worried about my goats, can we find a time for both of us", G),
            ("I'm feeling stressed, my goats need water early", G),
            ("You always go first, it's not fair!", C),
            ("its your fault my goats are thirsty", C),
            ("u never let anyone else go first", C),
            ("Mama Keza, let's share the water point fairly.", MISS),
            ("My goats are thirsty and I have to go to the field", MISS),
        ],
        "fr": [
            ("Mama Keza, je me sens inquiet quand mes chèvres ont soif.", G),
            ("jai besoin d'eau avant d'aller au champ, on peut en parler ?", G),
            ("Je m'inquiète pour mes chèvres, elles ont soif chaque matin", G),
            ("J'aimerais qu'on trouve une heure qui nous arrange tous les deux", G),
            ("Tu prends toujours tout !", C),
            ("tu passes toujours la premiere c pas juste", C),
            ("C'est de ta faute si mes chèvres ont soif", C),
            ("Tu penses qu'à toi et à tes enfants", C),
            ("Bonjour Mama Keza, il faut qu'on parle de l'eau.", MISS),
        ],
        "rw": [
            ("Mama Keza, ndumva mpangayitse iyo ihene zanjye zifite inyota.", G),
            ("nkeneye amazi mbere yo kujya mu murima", G),
            ("Nifuzaga ko twaganira ku gihe cyo kuvoma", G),
            ("Ndahangayitse cyane kubera ihene zanjye", G),
            ("Nkeneye ko buri gihe tuganira", G),
            ("Uhora uza mbere buri gitondo, ntibikwiye!", C),
            ("urikunda cyane", C),
            ("Ni wowe ukurikiraho, njye nzaza nyuma", MISS),
            ("Mama Keza, reka tuganire ku mazi.", MISS),
        ],
    },
    # Mugabo to Uwase, after the rain moved the boundary stone: his feelings and needs.
    "land_boundary/practice": {
        "en": [
            ("Uwase, I feel sad that we are fighting. Can we look at the papers?", G),
            ("Im sorry for shouting, i need us to stay good neighbours", G),
            ("Sorry Uwase, let us look for the stone together", G),
            ("Uwase, you are a familiar face to me, I need us to stay friends", G),
            ("You are a liar, I did not steal anything!", C),
            ("you are lying the stone was here", C),
            ("It's your fault, you never listen", C),
            ("I am not a thief! The rain moved the stone.", MISS),
            ("Let's call the elders who saw the stone.", MISS),
        ],
        "fr": [
            ("Uwase, je me sens triste qu'on se dispute.", G),
            ("jai besoin qu'on reste de bons voisins", G),
            ("Désolé Uwase, on regarde les papiers ensemble ?", G),
            ("je suis desole pour la pierre, je voudrais qu'on en parle", G),
            ("Tu mens, je n'ai rien volé !", C),
            ("Menteuse ! La pierre était là.", C),
            ("Arrête de mentir, la pluie a emporté la pierre", C),
            ("Je ne suis pas un voleur !", MISS),
            ("On appelle les voisins qui ont vu la pierre ?", MISS),
        ],
        "rw": [
            ("Uwase, ndumva mbabajwe n'uko tutumvikana.", G),
            ("Mbabarira Uwase, reka turebere hamwe imbago", G),
            ("nkeneye ko dukomeza kuba abaturanyi beza", G),
            ("Ndababaye cyane kubera iki kibazo", G),
            ("Uri umubeshyi, sinibye ubutaka bwawe!", C),
            ("urabeshya ibuye ryari hano", C),
            ("Uri kubeshya, ubu butaka ni ubwanjye", C),
            ("Sindi umujura!", MISS),
            ("Reka duhamagare abasaza babonye ibuye", MISS),
        ],
    },
    # Grace to Eric, about their mother's house: open the talk without blame.
    "inheritance/practice": {
        "en": [
            ("Eric, I feel scared for my children.", G),
            ("i need a roof for my kids, can we sit with the family?", G),
            ("I'm worried we will lose the house. Can we talk?", G),
            ("You are greedy, you want everything!", C),
            ("You always take everything because you are the man", C),
            ("Eric you never listen to us", C),
            ("Eric, by law daughters and sons inherit equally.", MISS),
            ("Let's ask the Abunzi to help us share.", MISS),
        ],
        "fr": [
            ("Eric, j'ai peur pour mes enfants.", G),
            ("jai besoin que mes enfants gardent un toit", G),
            ("Je m'inquiète pour la maison de maman", G),
            ("Tu prends toujours tout !", C),
            ("T'es égoïste", C),
            ("Tu veux tout garder pour toi, c'est pas juste", C),
            ("Eric, la loi dit que les filles héritent aussi.", MISS),
            ("On peut demander aux Abunzi de nous aider ?", MISS),
        ],
        "rw": [
            ("Eric, ndumva mfite ubwoba ku bana banjye.", G),
            ("Nkeneye ko abana banjye bagira aho baba", G),
            ("Ndifuza ko twicarana n'umuryango tukagabana neza", G),
            ("Ufite inda nini, urashaka byose!", C),
            ("uhora wikubira ibintu byose", C),
            ("Urikunda cyane Eric", C),
            ("Eric, itegeko rivuga ko abakobwa n'abahungu bazungura kimwe.", MISS),
            ("Reka tujye ku Bunzi", MISS),
        ],
    },
    # Sandrine to Olivier, about the maize money: start the calm talk.
    "couple_money/practice": {
        "en": [
            ("Olivier, I feel worried about the school fees.", G),
            ("i need our children to stay in school", G),
            ("I would like us to make a plan together for the money", G),
            ("You only think about your motorbike!", C),
            ("you always spend the money on yourself", C),
            ("Ur so selfish", C),
            ("Olivier, can we talk tonight when the kids are asleep?", MISS),
            ("The school fees come first.", MISS),
        ],
        "fr": [
            ("Olivier, je suis inquiète pour les frais scolaires.", G),
            ("jai besoin que nos enfants restent à l'école", G),
            ("J'aimerais qu'on fasse un plan ensemble", G),
            ("Tu penses qu'à ta moto !", C),
            ("Tu ne penses qu'à toi", C),
            ("tu depenses toujours l'argent pour toi", C),
            ("Olivier, on peut parler ce soir quand les enfants dorment ?", MISS),
            ("Les frais scolaires d'abord.", MISS),
        ],
        "rw": [
            ("Olivier, ndumva mpangayitse ku mafaranga y'ishuri.", G),
            ("nkeneye ko abana bacu baguma mu ishuri", G),
            ("Nifuzaga ko dutegura hamwe uko tuzakoresha amafaranga", G),
            ("Nkeneye ko buri gihe tuganira mbere yo gukoresha amafaranga", G),
            ("Uhora utekereza moto yawe gusa!", C),
            ("urikunda cyane Olivier", C),
            ("Olivier, twaganira nimugoroba abana baryamye?", MISS),
            ("Amafaranga y'ishuri mbere ya byose.", MISS),
        ],
    },
    # The captain to the other captain: propose a plan for the one pitch.
    "football_pitch/practice": {
        "en": [
            ("I understand you need to train for your match.", G),
            ("What if you take Saturdays and we take Sundays?", G),
            ("how about we share the pitch until your match", G),
            ("Let's share the pitch: you train on Saturday, we play on Sunday", G),
            ("You always take the pitch, you cheaters!", C),
            ("its your fault we fought last week", C),
            ("We were here first, the pitch is ours on Saturday.", MISS),
            ("Let the chief decide.", MISS),
        ],
        "fr": [
            ("Je comprends que vous devez vous entraîner pour votre match.", G),
            ("Et si vous preniez le samedi et nous le dimanche ?", G),
            ("Je te propose un planning : samedi pour vous, dimanche pour nous", G),
            ("on pourrait partager le terrain jusqu'au match", G),
            ("Vous prenez toujours le terrain !", C),
            ("C'est votre faute si on s'est battus", C),
            ("Bande de tricheurs", C),
            ("Le terrain est à nous le samedi.", MISS),
            ("Le chef va décider.", MISS),
        ],
        "rw": [
            ("Numva ko mukeneye kwitoza kubera umukino wanyu.", G),
            ("Mwafata ku wa gatandatu, twe tugafata ku cyumweru?", G),
            ("Reka dusangire ikibuga kugeza ku mukino wanyu", G),
            ("Ndagusaba ko twagabana iminsi", G),
            ("Muhora mutwara ikibuga!", C),
            ("Ni ikosa ryanyu ko twarwanye", C),
            ("Ni wowe ukurikiraho gukina", MISS),
            ("Ikibuga ni icyacu ku wa gatandatu.", MISS),
            ("Umuyobozi azabyemeza.", MISS),
        ],
    },
    # Nsengimana opens the talk with Ingabire's family about the restitution he cannot pay.
    "restitution/practice": {
        "en": [
            ("I know the harm I caused your family.", G),
            ("I am sorry for what I did. I want to help with my work.", G),
            ("i feel ashamed that i cannot pay", G),
            ("I regret what happened, can I work in your fields?", G),
            ("It was not my fault, everyone did it back then.", C),
            ("Let us forget the past and live together", C),
            ("I have no money. The court can wait.", MISS),
            ("Can we talk?", MISS),
        ],
        "fr": [
            ("Je sais le mal que j'ai causé à votre famille.", G),
            ("Je vous demande pardon. Je voudrais aider par mon travail.", G),
            ("jai honte de ne pas pouvoir payer", G),
            ("je regrette ce que j'ai fait", G),
            ("Pardonnez-moi pour le mal que je vous ai fait", G),
            ("Ce n'est pas ma faute, tout le monde l'a fait", C),
            ("Oublions le passé et vivons ensemble", C),
            ("Je n'ai pas d'argent, le tribunal peut attendre.", MISS),
            ("On peut parler ?", MISS),
        ],
        "rw": [
            ("Nzi ikibi nakoreye umuryango wanyu.", G),
            ("Ndabasaba imbabazi ku byo nakoze", G),
            ("Mumbabarire, nifuza gufasha n'imbaraga zanjye", G),
            ("ndicuza ibyo nakoze", G),
            ("Si ikosa ryanjye, bose barabikoze", C),
            ("Twibagirwe ibyahise tubane neza", C),
            ("Ibyo byarashize, reka tubane", C),
            ("Nta mafaranga mfite, urukiko rwategereza", MISS),
            ("Twaganira?", MISS),
        ],
    },
    # To Mukamana in the circle: thank her and show you heard her, without pushing her.
    "restorative_circle/practice": {
        "en": [
            ("Thank you, Mukamana. I heard how heavy these years were.", G),
            ("thank u for your courage", G),
            ("Thanks for sharing this with us", G),
            ("I feel moved by your words", G),
            ("You must forgive him, it was long ago", C),
            ("Be strong Mukamana, try to forget", C),
            ("Stay strong, God is with you", C),
            ("What happened next?", MISS),
            ("Habimana has served his sentence.", MISS),
        ],
        "fr": [
            ("Merci, Mukamana. Je suis touchée par ton courage.", G),
            ("merci pour ton courage", G),
            ("Je t'entends, Mukamana", G),
            ("Il faut pardonner, c'est du passé", C),
            ("Sois forte Mukamana, essaie d'oublier", C),
            ("Tiens bon, Dieu est avec toi", C),
            ("Qu'est-ce qui s'est passé ensuite ?", MISS),
            ("Habimana a purgé sa peine.", MISS),
        ],
        "rw": [
            ("Urakoze, Mukamana. Numvise ukuntu iyi myaka yakuremereye.", G),
            ("urakoze cyane kutubwira", G),
            ("Wakoze cyane Mukamana, unkoze ku mutima", G),
            ("Ndakumva, Mukamana", G),
            ("Ugomba kubabarira, byarashize", C),
            ("Komera Mukamana, Imana izagufasha", C),
            ("Ihangane cyane Mukamana", C),
            ("Byagenze bite nyuma?", MISS),
            ("Habimana yarangije igihano cye.", MISS),
        ],
    },
    # The message you post in the class group about the rumour on Claudine.
    "school_rumour/practice": {
        "en": [
            ("We do not know if it is true, please stop sharing it.", G),
            ("Guys lets stop this, Claudine is hurt", G),
            ("nobody knows if its true", G),
            ("Please don't share this message anymore", G),
            ("Whoever wrote this is an idiot", C),
            ("Shut up, you liar", C),
            ("You are all liars", C),
            ("Is it true? Who saw the cow?", MISS),
            ("I am familiar with Claudine's family, they are good people", MISS),
        ],
        "fr": [
            ("On ne sait pas si c'est vrai, arrêtez de partager.", G),
            ("Arretons ça svp, Claudine souffre", G),
            ("personne ne sait si c vrai", G),
            ("Ne partagez pas ce message svp", G),
            ("Celui qui a écrit ça est un menteur", C),
            ("Bande d'idiots", C),
            ("Ta gueule !", C),
            ("C'est vrai ? Qui a vu la vache ?", MISS),
            ("Claudine est mon amie.", MISS),
        ],
        "rw": [
            ("Ntituzi niba ari ukuri, muhagarike kubisangiza.", G),
            ("Mureke kohereza ubwo butumwa, Claudine arababaye", G),
            ("ntawuzi niba ari ukuri", G),
            ("Ntimusangize ibihuha", G),
            ("Uwanditse ibi ni igicucu", C),
            ("Ceceka, uri umubeshyi", C),
            ("Muri injiji", C),
            ("Ni ukuri? Ni nde wabonye inka?", MISS),
            ("Claudine ni inshuti yanjye.", MISS),
        ],
    },
    # To Patrick, a prisoner's son, on his first day in the club: welcome him.
    "welcome_everyone/practice": {
        "en": [
            ("Welcome, Patrick! Come and sit with us.", G),
            ("Hi Patrick, glad you came", G),
            ("welcome to the club bro", G),
            ("You belong here like everyone else", G),
            ("Patrick come sit here next to me", G),
            ("Welcome! We know your dad is in prison but it's ok", GC),
            ("Don't worry about what they say about your father", C),
            ("Hello Patrick, how are you?", MISS),
            ("Kevin, stop laughing.", MISS),
        ],
        "fr": [
            ("Bienvenue, Patrick ! Viens t'asseoir avec nous.", G),
            ("Bienvenu au club", G),
            ("Je suis content que tu sois venu", G),
            ("Salut Patrick, viens avec nous", G),
            ("Bienvenue, tu n'es pas ton père", GC),
            ("Ne fais pas attention à eux, même si ton papa est en prison", C),
            ("Salut Patrick, ça va ?", MISS),
            ("Kevin, arrête de rire.", MISS),
        ],
        "rw": [
            ("Urakaza neza, Patrick! Ngwino twicarane.", G),
            ("Ikaze mu ihuriro ryacu", G),
            ("Nishimiye ko waje", G),
            ("Karibu sana Patrick", G),
            ("Ntacyo bitwaye ko papa wawe afunze", C),
            ("Urakaza neza, ibya gereza ntibikureba", GC),
            ("Muraho Patrick, amakuru?", MISS),
            ("Kevin, reka guseka.", MISS),
        ],
    },
    # The one sentence for the umudugudu meeting: the need, who gains, and a fact to check.
    "budget_meeting/practice": {
        "en": [
            ("The tap has been broken for 6 months and 40 families walk an hour to the river.", G),
            ("Children are late to school because they fetch water far away", G),
            ("We ask you to repair the tap, it helps all the villagers", G),
            ("The youth of our village need the water tap repaired", G),
            ("You never do anything for us, you are corrupt", C),
            ("You must repair the tap now!", C),
            ("We want a big stadium.", MISS),
            ("Please repair the tap this year.", MISS),
        ],
        "fr": [
            ("Le robinet est en panne depuis 6 mois, 40 familles marchent une heure.", G),
            ("Les enfants arrivent en retard à l'école à cause de l'eau", G),
            ("Ça aiderait toute la population du village", G),
            ("Vous ne faites jamais rien pour nous !", C),
            ("Les chefs sont corrompus", C),
            ("Vous devez réparer le robinet maintenant", C),
            ("Nous voulons un grand stade.", MISS),
            ("Réparez le robinet cette année svp.", MISS),
        ],
        "rw": [
            ("Ivomo rimaze amezi 6 ripfuye, imiryango 40 ijya ku mugezi.", G),
            ("Abana bakererwa ishuri kubera kuvoma kure", G),
            ("Turasaba ko musana ivomo, rizafasha abaturage bose", G),
            ("Abatuye umudugudu bose bakeneye amazi meza", G),
            ("Abayobozi barya amafaranga", C),
            ("Mugomba gusana ivomo nonaha!", C),
            ("Turashaka sitade nini.", MISS),
            ("Musane ivomo uyu mwaka.", MISS),
        ],
    },
}


@functools.cache
def _content_dialogs() -> dict[str, Dialog]:
    settings = Settings()
    content, _ = load_content(settings.dialogs_dir, Catalogs.load(settings.locales_dir))
    return dict(content.dialogs)


def _step(key: str) -> FreeTextStep:
    dialog_id, step_id = key.split("/")
    dialogs = _content_dialogs()
    assert dialog_id in dialogs, f"no dialog {dialog_id!r} in the content"
    step = dialogs[dialog_id].step(step_id)
    assert isinstance(step, FreeTextStep), f"{key} is not a free-text step"
    return step


def _names(step: FreeTextStep) -> dict[int, str]:
    """Rule index -> GOOD (the positive rule) or CAREFUL (the step's one other rule)."""
    good = [i for i, rule in enumerate(step.rubric) if rule.positive]
    careful = [i for i, rule in enumerate(step.rubric) if not rule.positive]
    assert len(good) == 1, "these sentences expect exactly one positive rule"
    assert len(careful) <= 1, "these sentences expect at most one other rule: name the new one here"
    return {good[0]: GOOD, **{i: CAREFUL for i in careful}}


CASES = [
    pytest.param(key, lang, sentence, expected, id=f"{key.split('/')[0]}-{lang}-{sentence}")
    for key, by_lang in SENTENCES.items()
    for lang, sentences in by_lang.items()
    for sentence, expected in sentences
]


@pytest.mark.parametrize(("key", "lang", "sentence", "expected"), CASES)
def test_a_real_sentence_hits_the_rules_it_should(
    key: str, lang: str, sentence: str, expected: Expected
) -> None:
    step = _step(key)
    names = _names(step)
    got = tuple(names[i] for i in hits(step, lang, sentence))
    assert sorted(got) == sorted(expected), (
        f"{key} [{lang}] {sentence!r}: hits {list(got) or 'nothing'}, expected {list(expected) or 'nothing'}"
    )


def test_every_exercise_free_text_step_has_its_sentences() -> None:
    """Each exercise's free-text step, in each language: at least 5 sentences, with a hit of the
    positive rule, a miss, and a hit of the other rule where there is one."""
    steps = {
        f"{d.id}/{s.id}": s
        for d in _content_dialogs().values()
        if d.kind == "exercise"
        for s in d.steps
        if isinstance(s, FreeTextStep) and s.rubric
    }
    assert steps, "no exercise has a free-text step with a rubric"
    problems = [f"{key}: no sentences here" for key in sorted(set(steps) - set(SENTENCES))]
    for key, step in sorted(steps.items()):
        has_careful = any(not rule.positive for rule in step.rubric)
        for lang in LANGUAGES:
            sentences = SENTENCES.get(key, {}).get(lang, [])
            expected = [e for _, e in sentences]
            if not sentences:
                continue
            if len(sentences) < MIN_SENTENCES:
                problems.append(f"{key} [{lang}]: {len(sentences)} sentences, want {MIN_SENTENCES}")
            if not any(GOOD in e for e in expected):
                problems.append(f"{key} [{lang}]: no sentence earns the positive rule")
            if MISS not in expected:
                problems.append(f"{key} [{lang}]: no sentence is a miss")
            if has_careful and not any(CAREFUL in e for e in expected):
                problems.append(f"{key} [{lang}]: no sentence hits the blame/careful rule")
        missing = [lang for lang in LANGUAGES if key in SENTENCES and lang not in SENTENCES[key]]
        if missing:
            problems.append(f"{key}: no sentences in {missing}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("key", "lang", "sentence", "must_not"),
    [
        # "Ni wowe" is also the Kinyarwanda of "Your turn.": "you are next" is not blame.
        *[(key, "rw", "Ni wowe ukurikiraho", CAREFUL) for key in SENTENCES],
        # "buri gihe" (always) in a need is not "you always".
        *[(key, "rw", "Nkeneye ko buri gihe tuganira", CAREFUL) for key in SENTENCES],
        # "liar" is a whole word, not the end of "familiar".
        *[(key, "en", "You are a familiar face here", CAREFUL) for key in SENTENCES],
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_the_known_traps_are_not_blame(key: str, lang: str, sentence: str, must_not: str) -> None:
    step = _step(key)
    names = _names(step)
    assert must_not not in [names[i] for i in hits(step, lang, sentence)], f"{key} [{lang}] {sentence!r}"


def test_tu_prends_toujours_tout_is_blame_wherever_there_is_a_blame_rule() -> None:
    """Real French says « Tu prends toujours tout ! », never "tu toujours": every exercise whose
    careful rule is about blaming the other person catches it."""
    blame_rules = ["water_point", "land_boundary", "inheritance", "couple_money", "football_pitch"]
    missed = []
    for dialog_id in blame_rules:
        step = _step(f"{dialog_id}/practice")
        names = _names(step)
        if CAREFUL not in [names[i] for i in hits(step, "fr", "Tu prends toujours tout !")]:
            missed.append(dialog_id)
    assert not missed, f"« Tu prends toujours tout ! » is not blame in {missed}"
