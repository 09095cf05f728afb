"""The Telegram bot: the supervisors' front door to shopper.

`bot.app.build_application` wires the handlers, `bot.run` runs it (long polling or webhook),
`bot.pushes` drains the notifications outbox, `bot.relay.TelegramSolver` asks a supervisor to
solve a captcha or type an SMS code.
"""
