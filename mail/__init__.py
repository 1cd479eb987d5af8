"""The e-mail door: mail in and out of cases (issue 15).

`mail.parse` turns the raw bytes of one received mail into an `InboundMail`, purely; the
gateway, the routing and the case side read that model and never the raw mail.
"""
