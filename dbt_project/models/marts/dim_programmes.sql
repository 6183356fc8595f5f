select programme, programme_zh, programme_en, monitoring_group, family_based
from {{ ref('programmes') }}
