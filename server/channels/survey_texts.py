"""The channel survey's wording, and every wording a stored survey or thanks message may have.

Metrics tell a survey or its thanks from a bot reply by this wording and the message's `trace.survey`
(server/metrics/counts.py): comparing the text first spares parsing the JSON trace of every reply.
So a wording that changes must stay in RETIRED_TEXTS, or messages stored with it count as replies.
No imports: the metrics import this module, and the survey module imports the metrics.
"""

from __future__ import annotations

TEXTS = {
    "en": {
        "ask": "How would you rate this conversation? Reply 1–5 (1 = very poor, 5 = excellent); "
        "you can add a comment after the number.",
        "thanks": "Thanks for your rating!",
        "menu": "Rate",
        "scale": ("1 – Very poor", "2 – Poor", "3 – OK", "4 – Good", "5 – Excellent"),
        "thumb_thanks": "Thanks for your feedback!",
    },
    "zh": {
        "ask": "您对本次服务满意吗？请回复 1–5 评分（1 = 非常不满意，5 = 非常满意），可在数字后附上您的意见。",
        "thanks": "感谢您的评分！",
        "menu": "评分",
        "scale": ("1 非常不满意", "2 不满意", "3 一般", "4 满意", "5 非常满意"),
        "thumb_thanks": "感谢您的反馈！",
    },
}

RETIRED_TEXTS: frozenset[str] = frozenset()  # earlier "ask" and "thanks" wordings, kept for stored messages

STORED_TEXTS: frozenset[str] = (
    frozenset(str(texts[key]) for texts in TEXTS.values() for key in ("ask", "thanks")) | RETIRED_TEXTS
)
