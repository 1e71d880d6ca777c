"""Every table, in dependency order (a table after those it references)."""
from storage.audit_models import AuditEvent
from storage.bias_models import BiasFinding, BiasObservation, BiasProbe, BiasRun
from storage.budget_models import Budget, SpendCounter
from storage.cost_models import CostDaily, CostDirty, CostState
from storage.job_models import Job
from storage.log_models import LogCheckpoint, LogEntry, LogKey, LogNode, LogState, Receipt
from storage.loop_models import LoopEvent
from storage.models import ApiKey, OAuthIdentity, QuotaCounter, User
from storage.request_models import RequestLogEntry, RequestStart
from storage.webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

ALL_MODELS = [User, OAuthIdentity, ApiKey, QuotaCounter, LoopEvent, RequestLogEntry, RequestStart,
              Budget, SpendCounter,
              CostDaily, CostDirty, CostState, Job,
              WebhookEndpoint, WebhookEvent, WebhookDelivery, WebhookAttempt,
              LogEntry, LogNode, LogState, LogCheckpoint, LogKey, Receipt, AuditEvent,
              BiasRun, BiasFinding, BiasProbe, BiasObservation]
