"""Every name the dialplan (extensions.conf.j2) and the code share, spelled once.

Channel variables, AGI script names and their arguments, and dialplan contexts: the
templates spell them in Asterisk's syntax, the code takes them from here, and
tests/test_asterisk_config.py holds the two to each other.
"""
from __future__ import annotations

import datetime as dt

# --- channel variables the `ivr` script leaves for the dialplan ---------------------------------
CALL_ID = "HOTLINE_CALL_ID"  # the call row's uniqueid, carried to the screen pop
LANG = "HOTLINE_LANG"  # the caller's language (cmn, yue, hak); also set on originated calls
NEXT = "HOTLINE_NEXT"  # what the dialplan does next: NEXT_QUEUE or NEXT_HANGUP
NEXT_QUEUE = "queue"
NEXT_HANGUP = "hangup"
QUEUE = "HOTLINE_QUEUE"  # the menu's queue name (without the Asterisk queue prefix)
CATEGORY = "HOTLINE_CATEGORY"  # the service category the caller chose ('' for none)
PRIORITY = "HOTLINE_PRIORITY"
INTENT = "HOTLINE_INTENT"
FALLBACK = "HOTLINE_FALLBACK"  # "1": the caller went to the operator queue because something failed
DEMO_AT = "HOTLINE_DEMO_AT"  # the demo clock the IVR honoured (`hotline call --at`)
IVR_PREFIX = "HOTLINE_"  # the IVR's result (kept on its session) is the variables named so

# --- set by the `queue_callback` script ----------------------------------------------------------
CALLBACK_BOOKED = "HOTLINE_CALLBACK_BOOKED"  # "1" booked, "0" back into the queue
CALLBACK_ID = "HOTLINE_CALLBACK_ID"  # the callback task's id; also on the console's callback originate

# --- set by whoever originates a call (callback placeholders, survey calls) --------------------------
CALLBACK_POSITION = "HOTLINE_CALLBACK_POSITION"
CALLBACK_NUMBER = "HOTLINE_CALLBACK_NUMBER"
SURVEY_ID = "HOTLINE_SURVEY_ID"

# --- set by the dialplan itself ----------------------------------------------------------------
RECORDING = "HOTLINE_RECORDING"  # the call's recording file (MixMonitor); inherited, so also "__" + RECORDING
QUEUE_POSITION = "HOTLINE_QUEUE_POSITION"  # the place a caller leaving a queue had
# Routing by language ([hotline-queue-language]): the caller's language queue's suffix
# and the queuerules.conf rule Queue() is given.
QUEUE_LANG = "HOTLINE_QUEUE_LANG"
QUEUE_RULE = "HOTLINE_QUEUE_RULE"
FASTAGI = "HOTLINE_FASTAGI"  # [globals]: agi://host:port of the IVR
RECORDINGS = "HOTLINE_RECORDINGS"  # [globals]: the recordings folder
OPERATOR_RETRY = "HOTLINE_OPERATOR_RETRY"  # "1": back in the operator queue once after a voicemail that kept nothing

# Carried on AMI channel events (manager.conf channelvars): the screen pop's, then the
# call tracker's (the recording; the callback task a caller booked or a placeholder
# serves, with the number it dials back).
SCREEN_POP_VARIABLES = (CALL_ID, LANG, CATEGORY, PRIORITY, QUEUE, INTENT)
TRACKER_VARIABLES = (RECORDING, CALLBACK_ID, CALLBACK_NUMBER)
AMI_CHANNEL_VARIABLES = SCREEN_POP_VARIABLES + TRACKER_VARIABLES
# Set by the AMI link when it originates a callback placeholder, and by the survey
# dialer when it originates a survey call.
ORIGINATE_VARIABLES = (CALLBACK_POSITION, CALLBACK_NUMBER, SURVEY_ID, LANG)

# The hotline AMI account's read classes (manager.conf). Not "dialplan" (a VarSet and a
# Newexten for every priority of every call) nor "agi" (one event per AGI command):
# floods in production. Whatever the link needs must come in one of these
# (tests/test_asterisk_config.py).
AMI_READ_CLASSES = ("system", "call", "agent", "user", "dtmf")

# --- AGI scripts: AGI(${HOTLINE_FASTAGI}/<script>?<arguments>) -------------------------------------
IVR_SCRIPT = "ivr"
QUEUE_CALLBACK_SCRIPT = "queue_callback"
SURVEY_SCRIPT = "survey"
# Arguments of the `ivr` script: start at a menu node, in a language, at a demo clock.
START_ARG, LANG_ARG, AT_ARG = "start", "lang", "at"
# The demo clock's form: a local time in the app's zone.
DEMO_CLOCK_FORMAT = "%Y-%m-%dT%H:%M"

# --- contexts ----------------------------------------------------------------------------------
TRUNK_CONTEXT = "hotline-trunk"  # also the trunk endpoint's name in pjsip.conf
INBOUND_CONTEXT = "hotline-inbound"
SURVEY_CONTEXT = "hotline-survey"
CALLBACK_HOLD_CONTEXT = "hotline-callback-hold"
QUEUE_LANGUAGE_CONTEXT = "hotline-queue-language"  # sets QUEUE_LANG, QUEUE_MAX_PENALTY, QUEUE_RULE
CALLBACK_DIAL_CONTEXT = "hotline-callback-dial"
OUTBOUND_CONTEXT = "hotline-outbound"


def ivr_script(at: dt.datetime | None = None) -> str:
    """The `ivr` script as the dialplan names it, with a demo clock as its `at` argument."""
    return IVR_SCRIPT if at is None else f"{IVR_SCRIPT}?{AT_ARG}={at:{DEMO_CLOCK_FORMAT}}"
