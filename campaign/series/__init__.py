"""series — pure: the organiser's files → verified issues.

Owns: reading schedule.yaml (yamlsource, schedule), the article and its blocks (content), the split into one
part per day (plan), the safe-messaging lint (lint), the crisis block and disclaimer and their verification
(safety), Jinja2 → MJML → premailer rendering (render), the loaded project (project) and `campaign build`'s
files (build), and the shapes of our links (links).
May import: campaign.errors, campaign.config (the Settings value, never os.environ), campaign.clock.
Never imports ledger, delivery, providers, timing, web or cli — and no SQLAlchemy.
"""
