"""The PostgreSQL leader lost under voting, and Patroni's failover (devstack/patroni.py):
16 voters vote with Idempotency-Keys and two readers read results while a fault strikes
the leader, the synchronous standby or etcd. After each: every acknowledged vote (201) is
a row on the leader of the end, none twice, the counters equal a recount, nothing but
503/504 with Retry-After was answered on the way, and the time without an acknowledged
vote is measured. Real processes, real signals; each test prints its figure."""

import contextlib
import time

import psycopg2
import pytest

from polls.management.commands.reconcile_results import RECONCILER_LOCK
from polls.stream_hub import LISTENER_NAME
from tests.cluster.test_node_faults import Follower
from tests.cluster.voting import VotingCrowd
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster]

# Goals (issue 32, docs/scaling.md "Failover"): a crash costs the leader key's ttl (20 s)
# and a little; a planned switchover a few seconds.
CRASH_GAP_GOAL = 25.0
SWITCHOVER_GAP_GOAL = 5.0
# A hung synchronous standby costs the leader's wal_sender_timeout (10 s), after which
# Patroni names the other replica synchronous (20.7 s, its member key's ttl, without it).
FROZEN_STANDBY_GAP_GOAL = 15.0
STANDBY_ROLES = ("sync_standby", "replica")


@pytest.fixture(scope="module")
def voters(tokens):
    """Every seeded voter's token: each test votes on polls of its own, so a token votes
    once per poll and serves every test."""
    return tokens[1:]


def wait_new_leader(cluster, old, timeout=60):
    """Seconds until a node other than `old` leads (Patroni's view)."""
    started = time.monotonic()
    wait_for(lambda: cluster.leader() not in (None, old), within=timeout, every=0.1)
    return time.monotonic() - started


def wait_rejoined(cluster, name, timeout=120):
    """Until `name` runs again as a standby of the leader, replaying its WAL (Patroni's
    view of a node just thawed may still be the one it left before), with the others."""
    wait_for(lambda: cluster.roles().get(name) in STANDBY_ROLES, within=timeout, every=0.25)
    wait_for(lambda: replays(cluster, name), within=timeout, every=0.25)
    cluster.wait_members(timeout=timeout)


def replays(cluster, name):
    try:
        return cluster.caught_up(name, within=1)
    except psycopg2.OperationalError:
        return False


def healing(cluster, since):
    """On the leader: the stream processes' LISTEN connections, whether a job finished
    there since `since` (its time), and whether a reconciler holds its lock there (each
    of them connects through HAProxy). Nothing while no leader answers."""
    try:
        [seen] = cluster.sql(
            "SELECT (SELECT count(*) FROM pg_stat_activity"
            "        WHERE application_name = %s),"
            " EXISTS (SELECT FROM procrastinate_events WHERE type = 'succeeded' AND at > %s),"
            " EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted"
            "         AND objid = %s)",
            [LISTENER_NAME, since, RECONCILER_LOCK],
        )
        return seen
    except psycopg2.OperationalError:
        return 0, False, False


def leader_time(cluster, within=30):
    """now() on the leader, through HAProxy: it finds a new leader a check or two (250 ms
    each) after Patroni names it, and closes connections until then."""
    deadline = time.monotonic() + within
    while True:
        try:
            [(now,)] = cluster.sql("SELECT now()")
            return now
        except psycopg2.OperationalError:
            assert time.monotonic() < deadline, f"no leader through HAProxy in {within} s"
            time.sleep(0.1)


def wait_healed(cluster, since, timeout=90):
    """Until each stream process LISTENs on the leader, a job worker has finished a job
    there since `since`, and a reconciler holds its lock there: the service healed by
    itself. Returns the seconds each took from the call."""
    streams = cluster.cluster.sizing.stream_nodes * cluster.cluster.sizing.stream_workers
    started = time.monotonic()
    deadline = started + timeout
    healed = {}
    while len(healed) < 3:
        listening, worked, reconciling = seen = healing(cluster, since)
        for name, done in (
            ("streams_listen", listening >= streams),
            ("workers_work", worked),
            ("reconciler_acts", reconciling),
        ):
            if done and name not in healed:
                healed[name] = round(time.monotonic() - started, 2)
        assert time.monotonic() < deadline, f"not healed in {timeout} s: {seen}"
        time.sleep(0.25)
    return healed


@contextlib.contextmanager
def following(cluster, crowd, voters, count=4):
    """Stream subscribers of the crowd's first poll for the block (they start the stream
    processes' LISTEN). At its end, each has been sent the poll's final count, every
    version at most once and in order, on the one connection it opened: its stream node
    healed by itself (it re-LISTENs on the leader, or rereads within a second)."""
    followers = [Follower(cluster.url, crowd.polls[0][0]) for _ in range(count)]
    try:
        # Each subscribed before the fault (one arriving in the gap is refused, 503, and
        # comes back: that is not what this follows).
        wait_for(lambda: all(f.totals for f in followers), within=30)
        yield followers
        wait_for(
            lambda: all(f.totals and f.totals[-1] == len(voters) for f in followers), within=30
        )
    finally:
        for follower in followers:
            follower.close()
    for follower in followers:
        assert follower.totals == sorted(set(follower.totals)), follower.totals
        assert follower.connects == 1  # its stream node never failed


def figures_of(crowd, cluster, **more):
    gap, _ = crowd.gap()
    return {
        **crowd.verify(cluster),
        "writes_gap_s": round(gap, 2),
        "vote_answers": dict(crowd.statuses()),
        "read_answers": dict(crowd.read_statuses()),
        **more,
    }


def judge_failover(figure, name, crowd, cluster, old, new, **more):
    """The figure line, then what an unplanned failover must leave: the crowd's votes
    sound, a new leader, the old one back as its standby, and no write for less than
    the crash goal."""
    figures = figures_of(
        crowd, cluster, old_leader=old, new_leader=new, roles_after=cluster.roles(), **more
    )
    figure(name, **figures)
    crowd.assert_sound(figures)
    assert new != old and cluster.roles()[old] in STANDBY_ROLES
    assert figures["writes_gap_s"] < CRASH_GAP_GOAL, figures


def test_the_leader_killed_a_standby_takes_over_and_no_acknowledged_vote_is_lost(
    cluster, people, voters, figure
):
    """SIGKILL of the leader's Patroni and PostgreSQL, kept down until a standby leads;
    then the supervisor starts it again and pg_rewind brings it back as a standby."""
    cluster.wait_members()
    old = cluster.leader()
    crowd = VotingCrowd(cluster, people.staff, voters, "Leader killed")
    with crowd, following(cluster, crowd, voters):
        time.sleep(3)
        with cluster.unsupervised():
            killed_at = time.monotonic()
            cluster.kill_node(old)
            promoted_after = wait_new_leader(cluster, old)
            new = cluster.leader()
            wait_for(lambda: crowd.acknowledged_since(killed_at + promoted_after), within=60)
            since = leader_time(cluster)
        healed_at = time.monotonic() - killed_at
        healed = wait_healed(cluster, since)
        wait_rejoined(cluster, old)
        rejoined_after = time.monotonic() - killed_at
        time.sleep(2)
    judge_failover(
        figure,
        "cluster_leader_killed",
        crowd,
        cluster,
        old,
        new,
        promoted_after_s=round(promoted_after, 2),
        healed_s_after_first_write=healed,
        first_write_after_s=round(healed_at, 2),
        old_leader_rejoined_after_s=round(rejoined_after, 1),
    )


def test_the_leader_frozen_then_thawed_is_demoted_and_rejoins(cluster, people, voters, figure):
    """SIGSTOP of the leader's Patroni and PostgreSQL (a hung host: sockets open, nothing
    answered) until a standby leads, then SIGCONT: the old leader finds its key gone,
    demotes itself and rejoins; no vote it acknowledged is lost or doubled."""
    cluster.wait_members()
    old = cluster.leader()
    crowd = VotingCrowd(cluster, people.staff, voters, "Leader frozen")
    with crowd, following(cluster, crowd, voters):
        time.sleep(3)
        with cluster.frozen_node(old):
            frozen_at = time.monotonic()
            promoted_after = wait_new_leader(cluster, old)
            new = cluster.leader()
            wait_for(lambda: crowd.acknowledged_since(frozen_at + promoted_after), within=60)
            since = leader_time(cluster)
            time.sleep(2)  # the new leader takes votes while the old one is still frozen
        thawed_at = time.monotonic()
        wait_rejoined(cluster, old)
        rejoined_after = time.monotonic() - thawed_at
        healed = wait_healed(cluster, since)
        time.sleep(2)
    judge_failover(
        figure,
        "cluster_leader_frozen",
        crowd,
        cluster,
        old,
        new,
        promoted_after_s=round(promoted_after, 2),
        rejoined_after_thaw_s=round(rejoined_after, 1),
        healed_s_after_rejoin=healed,
    )


def test_a_planned_switchover_under_voting_loses_nothing(cluster, people, voters, figure):
    cluster.wait_members()
    old, candidate = cluster.leader(), cluster.role_of("sync_standby")
    crowd = VotingCrowd(cluster, people.staff, voters, "Switchover")
    with crowd, following(cluster, crowd, voters):
        time.sleep(3)
        started = time.monotonic()
        output = cluster.patronictl(
            "switchover", "--leader", old, "--candidate", candidate, "--force"
        )
        switched_after = time.monotonic() - started
        wait_for(lambda: cluster.leader() == candidate, within=30)
        since = leader_time(cluster)
        wait_rejoined(cluster, old)
        wait_healed(cluster, since)
        time.sleep(2)
    gap, _ = crowd.gap(since=started)
    figures = figures_of(
        crowd,
        cluster,
        old_leader=old,
        new_leader=cluster.leader(),
        patronictl_s=round(switched_after, 2),
        roles_after=cluster.roles(),
    )
    figure("cluster_switchover", **figures)
    crowd.assert_sound(figures)
    assert cluster.leader() == candidate, output
    assert gap < SWITCHOVER_GAP_GOAL, figures


def test_one_etcd_member_killed_changes_nothing(cluster, people, voters, figure):
    cluster.wait_members()
    old = cluster.leader()
    crowd = VotingCrowd(cluster, people.staff, voters, "etcd member killed")
    with crowd:
        time.sleep(2)
        with cluster.unsupervised():
            cluster.kill("etcd-1")
            killed_at = time.monotonic()
            time.sleep(2 * 20)  # two leader-key lifetimes (ttl) without it
        cluster.wait_restarted("etcd-1")
        time.sleep(2)
    gap, _ = crowd.gap(since=killed_at)
    figures = figures_of(crowd, cluster, leader_before=old, leader_after=cluster.leader())
    figure("cluster_etcd_member_killed", **figures)
    crowd.assert_sound(figures)
    assert cluster.leader() == old
    assert set(crowd.statuses()) == {"201"}, crowd.statuses()
    assert gap < 1.0, figures


def test_etcd_unreachable_the_leader_stays_in_failsafe_mode(cluster, people, voters, figure):
    """Every etcd member frozen (SIGSTOP) for longer than the leader key lives: Patroni
    cannot renew it, and in failsafe_mode the leader stays the leader as long as every
    other member answers its REST API (none may be promoted: none can take the key).
    Votes go on; when etcd is back, nothing changed."""
    cluster.wait_members()
    old = cluster.leader()
    crowd = VotingCrowd(cluster, people.staff, voters, "etcd unreachable")
    with crowd:
        time.sleep(2)
        with cluster.paused("etcd-1"), cluster.paused("etcd-2"), cluster.paused("etcd-3"):
            frozen_at = time.monotonic()
            time.sleep(20 + 15)  # ttl, retry_timeout and more
            state = cluster.patroni_state(old)
        time.sleep(5)
    gap, _ = crowd.gap(since=frozen_at)
    figures = figures_of(
        crowd,
        cluster,
        leader_before=old,
        leader_after=cluster.leader(),
        failsafe_active=state.get("failsafe_mode_is_active"),
        role_while_away=state.get("role"),
    )
    figure("cluster_etcd_unreachable", **figures)
    crowd.assert_sound(figures)
    assert state.get("role") == "primary" and state.get("failsafe_mode_is_active"), state
    assert cluster.leader() == old
    assert gap < 2.0, figures


def wait_standby_replaced(cluster, standby, within):
    """Until Patroni names a node other than `standby` synchronous; that node."""
    wait_for(
        lambda: cluster.role_of("sync_standby") not in (None, standby), within=within, every=0.1
    )
    return cluster.role_of("sync_standby")


def judge_standby_lost(
    figure, name, crowd, cluster, *, leader, standby, successor, since, gap_goal, **more
):
    """The figure line, then what losing the synchronous standby must leave: the crowd's
    votes sound, the same leader, `successor` synchronous, the lost one back with every
    row, and no write for less than `gap_goal` after `since`."""
    caught_up = cluster.caught_up(standby)
    gap, _ = crowd.gap(since=since)
    figures = figures_of(crowd, cluster, new_sync_standby=successor, caught_up=caught_up, **more)
    figure(name, **figures)
    crowd.assert_sound(figures)
    assert cluster.leader() == leader
    assert successor != standby
    assert caught_up
    assert gap < gap_goal, figures


def test_the_synchronous_standby_killed_writes_go_on_and_it_catches_up(
    cluster, people, voters, figure
):
    """SIGKILL of the synchronous standby's Patroni and PostgreSQL, kept down 15 s: the
    leader's commits wait until Patroni names the other replica synchronous (three nodes:
    an acknowledged vote is still on two), then go on; back, it streams again and has
    every row."""
    cluster.wait_members()
    leader, standby = cluster.leader(), cluster.role_of("sync_standby")
    crowd = VotingCrowd(cluster, people.staff, voters, "Sync standby killed")
    with crowd:
        time.sleep(2)
        with cluster.unsupervised():
            killed_at = time.monotonic()
            cluster.kill_node(standby)
            successor = wait_standby_replaced(cluster, standby, within=30)
            replaced_after = time.monotonic() - killed_at
            time.sleep(15)
        wait_rejoined(cluster, standby)
        back_at = time.monotonic()
        time.sleep(2)
    judge_standby_lost(
        figure,
        "cluster_sync_standby_killed",
        crowd,
        cluster,
        leader=leader,
        standby=standby,
        since=killed_at,
        gap_goal=5.0,
        successor=successor,
        killed=standby,
        replaced_after_s=round(replaced_after, 2),
        rejoined_after_s=round(back_at - killed_at, 1),
    )


def test_the_synchronous_standby_frozen_commits_wait_then_go_on_and_none_is_lost(
    cluster, people, voters, figure
):
    """SIGSTOP of the synchronous standby's Patroni and PostgreSQL (a hung host: its
    replication connection stays open and confirms nothing). The leader's commits wait
    for it, unseen: votes past the API's watchdog answer 504, never 201. Once the leader's
    walsender drops it (wal_sender_timeout), Patroni names the other replica synchronous,
    which confirms them; the voters' retries with their keys get their receipts. Thawed,
    it streams again and has every row."""
    cluster.wait_members()
    leader, standby = cluster.leader(), cluster.role_of("sync_standby")
    crowd = VotingCrowd(cluster, people.staff, voters, "Sync standby frozen")
    with crowd:
        time.sleep(2)
        with cluster.frozen_node(standby):
            frozen_at = time.monotonic()
            successor = wait_standby_replaced(cluster, standby, within=90)
            replaced_after = time.monotonic() - frozen_at
            wait_for(lambda: crowd.acknowledged_since(frozen_at + replaced_after), within=60)
            time.sleep(3)
        thawed_at = time.monotonic()
        wait_rejoined(cluster, standby)
        rejoined_after = time.monotonic() - thawed_at
        time.sleep(2)
    judge_standby_lost(
        figure,
        "cluster_sync_standby_frozen",
        crowd,
        cluster,
        leader=leader,
        standby=standby,
        since=frozen_at,
        gap_goal=FROZEN_STANDBY_GAP_GOAL,
        successor=successor,
        frozen=standby,
        replaced_after_s=round(replaced_after, 2),
        rejoined_after_thaw_s=round(rejoined_after, 1),
    )
